// Python's socketserver module under its own names: everything the @socketserver packages export,
// and the eight Threading*/Forking* classes Python defines, so code written from Python's docs
// ports line by line. Each class here is `Mixin(Server)`, as in Python's module.
import { ForkingMixIn } from '@socketserver/concurrency-fork'
import { ThreadingMixIn } from '@socketserver/concurrency-thread'
import { TCPServer } from '@socketserver/transport-tcp'
import { TLSServer } from '@socketserver/transport-tls'
import { UDPServer } from '@socketserver/transport-udp'
import { UnixDatagramServer, UnixStreamServer } from '@socketserver/transport-unix'

export * from '@socketserver/concurrency-fork'
export * from '@socketserver/concurrency-thread'
export * from '@socketserver/core'
export * from '@socketserver/stream-handlers'
export * from '@socketserver/transport-tcp'
export * from '@socketserver/transport-tls'
export * from '@socketserver/transport-udp'
export * from '@socketserver/transport-unix'

/** Python's `ThreadingTCPServer`: `ThreadingMixIn(TCPServer)`; handlers run in worker threads. */
export class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
/** Python's `ThreadingUDPServer`: `ThreadingMixIn(UDPServer)`. */
export class ThreadingUDPServer extends ThreadingMixIn(UDPServer) {}
/** Python's `ThreadingUnixStreamServer`: `ThreadingMixIn(UnixStreamServer)`. */
export class ThreadingUnixStreamServer extends ThreadingMixIn(UnixStreamServer) {}
/** Python's `ThreadingUnixDatagramServer`: `ThreadingMixIn(UnixDatagramServer)`. */
export class ThreadingUnixDatagramServer extends ThreadingMixIn(UnixDatagramServer) {}

/** Python's `ForkingTCPServer`: `ForkingMixIn(TCPServer)`; handlers run in child processes. */
export class ForkingTCPServer extends ForkingMixIn(TCPServer) {}
/** Python's `ForkingUDPServer`: `ForkingMixIn(UDPServer)`. */
export class ForkingUDPServer extends ForkingMixIn(UDPServer) {}
/** Python's `ForkingUnixStreamServer`: `ForkingMixIn(UnixStreamServer)`. */
export class ForkingUnixStreamServer extends ForkingMixIn(UnixStreamServer) {}
/** Python's `ForkingUnixDatagramServer`: `ForkingMixIn(UnixDatagramServer)`. */
export class ForkingUnixDatagramServer extends ForkingMixIn(UnixDatagramServer) {}

/** TLS handled in worker threads: `ThreadingMixIn(TLSServer)` (TLS terminates in the main thread). */
export class ThreadingTLSServer extends ThreadingMixIn(TLSServer) {}
/** TLS handled in child processes: `ForkingMixIn(TLSServer)` (TLS terminates in the parent). */
export class ForkingTLSServer extends ForkingMixIn(TLSServer) {}
