import type net from 'node:net'
import type tls from 'node:tls'
import type { ServerConstructor } from '@socketserver/core'
import type { ConnectionStage, OptionTable } from '@socketserver/core/transport'
import { TLSTerminator, tlsOptionTable } from './terminator.js'

/** What `TLSMixIn` adds to a stream server. */
export interface TLSServerMethods {
  /** The `tls` option: what `tls.createServer()` takes. */
  readonly tls: tls.TlsOptions
  /** Deadline from accept to a completed handshake, in ms. */
  readonly handshakeTimeout: number
  /**
   * Replaces the default certificate (Node's `tls.Server#setSecureContext()`): `options` overlay the
   * `tls` option. New handshakes use it; established connections keep theirs.
   */
  setSecureContext(options: tls.SecureContextOptions): void
  /**
   * The certificate for clients asking for `hostname` (SNI), exact (`api.example.com`) or wildcard
   * (`*.example.com`, one label); calling it again for a name reloads it. `options` overlay the
   * `tls` option. Not consulted when `tls.SNICallback` is given (as in Node).
   */
  addContext(hostname: string, options: tls.SecureContextOptions | tls.SecureContext): void
  /** Forgets a name given to `addContext()`; whether it was there. */
  removeContext(hostname: string): boolean
}

/**
 * TLS on a stream server whose request is an accepted `net.Socket` (TCP, Unix stream): the
 * handshake becomes its last connection stage, after the base's (a PROXY header is read first).
 * `TLSServer` is `TLSMixIn(TCPServer)`, `UnixStreamTLSServer` is `TLSMixIn(UnixStreamServer)`.
 */
export function TLSMixIn<TBase extends ServerConstructor>(
  Base: TBase,
): TBase & ServerConstructor<InstanceType<TBase> & TLSServerMethods>
export function TLSMixIn(Base: ServerConstructor) {
  abstract class TLSMixInServer extends Base implements TLSServerMethods {
    static readonly options: OptionTable = tlsOptionTable
    declare tls: tls.TlsOptions
    declare handshakeTimeout: number
    readonly #terminator: TLSTerminator

    constructor(...args: any[]) {
      super(...args)
      this.#terminator = new TLSTerminator(this.constructor.name, this.tls, this.handshakeTimeout)
    }

    protected override connectionStages(): ConnectionStage<net.Socket, unknown>[] {
      return [
        ...(super.connectionStages() as ConnectionStage<net.Socket, unknown>[]),
        this.#terminator.stage(),
      ]
    }

    setSecureContext(options: tls.SecureContextOptions): void {
      this.#terminator.setSecureContext(this.constructor.name, options)
    }

    addContext(hostname: string, options: tls.SecureContextOptions | tls.SecureContext): void {
      this.#terminator.addContext(this.constructor.name, hostname, options)
    }

    removeContext(hostname: string): boolean {
      return this.#terminator.removeContext(hostname)
    }
  }
  return TLSMixInServer
}
