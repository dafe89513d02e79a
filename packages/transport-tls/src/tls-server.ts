import type net from 'node:net'
import type tls from 'node:tls'
import {
  EventLoopMixIn,
  type InetAddress,
  type InetAddressInput,
  type RequestHandlerClass,
} from '@socketserver/core'
import { TCPServer, type TCPServerOptions } from '@socketserver/transport-tcp'
import type { TLSOptions } from './terminator.js'
import { TLSMixIn } from './tls-mixin.js'

export interface TLSServerOptions extends TCPServerOptions, TLSOptions {}

/**
 * A `TCPServer` whose connections are TLS: each completes its handshake off the serve loop, within
 * `handshakeTimeout`, before it is queued; a failed one never reaches a handler (it is refused:
 * `refusedConnections`, `socketserver:connection:refused`, `handleRefusal()`). One request at a time,
 * as `TCPServer`; `EventLoopTLSServer` serves many at once.
 *
 * The request is the `tls.TLSSocket` (`getPeerCertificate()`, `alpnProtocol`, `servername`); the
 * client address is `{ address, port, family }`.
 */
export class TLSServer extends TLSMixIn(TCPServer) {
  constructor(
    serverAddress: InetAddressInput,
    RequestHandlerClass: RequestHandlerClass<tls.TLSSocket, InetAddress, any>,
    options?: TLSServerOptions,
  ) {
    super(serverAddress, RequestHandlerClass as RequestHandlerClass<net.Socket, InetAddress, any>, options)
  }
}

/** Many TLS connections at once on the one event loop (handshakes never wait for each other either). */
export class EventLoopTLSServer extends EventLoopMixIn(TLSServer) {}
