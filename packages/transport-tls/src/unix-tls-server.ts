import type net from 'node:net'
import type tls from 'node:tls'
import { EventLoopMixIn, type RequestHandlerClass } from '@socketserver/core'
import { UnixStreamServer, type UnixStreamServerOptions } from '@socketserver/transport-unix'
import type { TLSOptions } from './terminator.js'
import { TLSMixIn } from './tls-mixin.js'

export interface UnixStreamTLSServerOptions extends UnixStreamServerOptions, TLSOptions {}

/**
 * TLS over a Unix stream socket (a local TLS-speaking peer, a sidecar, a test): `UnixStreamServer`
 * with the handshake, certificates and refusals of `TLSServer`. The client address is `''`.
 */
export class UnixStreamTLSServer extends TLSMixIn(UnixStreamServer) {
  constructor(
    serverAddress: string,
    RequestHandlerClass: RequestHandlerClass<tls.TLSSocket, string, any>,
    options?: UnixStreamTLSServerOptions,
  ) {
    super(serverAddress, RequestHandlerClass as RequestHandlerClass<net.Socket, string, any>, options)
  }
}

export class EventLoopUnixStreamTLSServer extends EventLoopMixIn(UnixStreamTLSServer) {}
