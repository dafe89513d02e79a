import { createHash } from 'node:crypto'
import type net from 'node:net'
import tls from 'node:tls'
import { InvalidArgumentError, proxyInfo } from '@socketserver/core'
import {
  type ConnectionStage,
  check,
  ignoreSocketError,
  type OptionTable,
  setProxyInfo,
} from '@socketserver/core/transport'
import { TLSHandshakeError, TLSHandshakeTimeoutError, TLSUnauthorizedError } from './errors.js'

/** What a TLS server adds to its transport's options. */
export interface TLSOptions {
  /**
   * What Node's `tls.createServer()` takes: `key`, `cert`, `ca`, `pfx`, `SNICallback`,
   * `ALPNProtocols`, `requestCert`, `rejectUnauthorized`, `minVersion`, `ciphers`, `ticketKeys`, ...
   * (Node's defaults). `handshakeTimeout` is the server's own option, not one of these.
   */
  tls?: tls.TlsOptions
  /**
   * Longest a client may take from accept to a completed handshake, in ms; then the connection is
   * closed and refused (`SOCKSRV_TLS_HANDSHAKE_TIMEOUT`); `0` waits for ever (a slowloris then
   * holds a descriptor as long as it likes). Default: `10000`.
   */
  handshakeTimeout?: number
}

/** The option table entries every TLS server adds. */
export const tlsOptionTable: OptionTable = {
  tls: { default: () => ({}), check: check.object },
  handshakeTimeout: { default: 10_000, check: check.ms() },
}

type ContextOptions = tls.SecureContextOptions

// As tls.Server: without a session id context, OpenSSL refuses to resume TLS 1.2 sessions of
// clients that sent a certificate.
const SESSION_ID_CONTEXT = createHash('sha1').update(process.argv.join(' ')).digest('hex').slice(0, 32)

/** Node's addContext() pattern: `*` stands for one label; names compare case-insensitively. */
function namePattern(hostname: string): RegExp {
  const escaped = hostname.replace(/([.^$+?\-\\[\]{}()|])/g, '\\$1').replaceAll('*', '[^.]*')
  return new RegExp(`^${escaped}$`, 'i')
}

/** A connection inside its handshake. */
interface Handshake {
  settle(tlsSocket: tls.TLSSocket | undefined, error?: Error): void
}

/**
 * The TLS end of a server, shared by the TCP and Unix TLS servers: its secure contexts (default and
 * per name) and the connection stage that turns an accepted socket into a `TLSSocket`.
 *
 * Handshakes run in a `tls.Server` that never listens: it is given each accepted socket
 * (`emit('connection')`), so the handshake, SNI, session resumption, ALPN, client certificate
 * checks and `setSecureContext()` are Node's own. Node reports a handshake by event with the new
 * `TLSSocket`, whose `_parent` is the socket it was given (stable since Node 0.11; no public link
 * exists): that is how the stage finds its connection.
 */
export class TLSTerminator {
  #base: tls.TlsOptions
  readonly #server: tls.Server
  readonly #names = new Map<string, { pattern: RegExp; context: tls.SecureContext }>()
  readonly #timeout: number
  readonly #verify: boolean
  readonly #pending = new WeakMap<net.Socket, Handshake>()

  constructor(owner: string, options: tls.TlsOptions, handshakeTimeout: number) {
    if ('handshakeTimeout' in options) {
      throw new InvalidArgumentError(
        `option 'tls' of ${owner} must not hold handshakeTimeout: use the server's handshakeTimeout option`,
      )
    }
    this.#base = options
    this.#timeout = handshakeTimeout
    const requestCert = options.requestCert ?? false
    this.#verify = requestCert && (options.rejectUnauthorized ?? true)
    try {
      this.#server = tls.createServer({
        sessionIdContext: SESSION_ID_CONTEXT,
        SNICallback: this.#byName,
        ...options,
        // Refused here, with the reason, rather than closed by Node without one.
        rejectUnauthorized: false,
        // Ours is a deadline from accept; Node's (an inactivity timeout) stays as a backstop.
        handshakeTimeout: handshakeTimeout > 0 ? handshakeTimeout + 1_000 : 0,
      })
    } catch (error) {
      throw new InvalidArgumentError(`option 'tls' of ${owner}: ${(error as Error).message}`)
    }
    this.#server.on('secureConnection', (tlsSocket: tls.TLSSocket) => this.#secured(tlsSocket))
    this.#server.on('tlsClientError', (error: NodeJS.ErrnoException, tlsSocket: tls.TLSSocket) =>
      this.#of(tlsSocket)?.settle(
        undefined,
        error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT'
          ? new TLSHandshakeTimeoutError(this.#timeout)
          : new TLSHandshakeError(error.code ?? error.message, error),
      ),
    )
  }

  #of(tlsSocket: tls.TLSSocket): Handshake | undefined {
    const raw = (tlsSocket as unknown as { _parent?: net.Socket })._parent
    const handshake = raw && this.#pending.get(raw)
    if (!handshake) tlsSocket.destroy() // not ours, or already settled (timed out)
    return handshake
  }

  #secured(tlsSocket: tls.TLSSocket): void {
    const handshake = this.#of(tlsSocket)
    if (!handshake) return
    if (this.#verify && !tlsSocket.authorized) {
      const noCertificate = Object.keys(tlsSocket.getPeerCertificate()).length === 0
      const reason = noCertificate ? 'NO_CERTIFICATE' : String(tlsSocket.authorizationError)
      handshake.settle(undefined, new TLSUnauthorizedError(reason))
    } else handshake.settle(tlsSocket)
  }

  /** Replaces the default context (Node's `setSecureContext()`, `options` overlaying the `tls` option). */
  setSecureContext(owner: string, options: ContextOptions): void {
    const merged = { sessionIdContext: SESSION_ID_CONTEXT, ...this.#base, ...options }
    try {
      this.#server.setSecureContext(merged)
    } catch (error) {
      throw new InvalidArgumentError(`${owner}.setSecureContext(): ${(error as Error).message}`)
    }
    this.#base = merged
  }

  /** Adds (or replaces) the context of a server name (SNI); `*` stands for one label. */
  addContext(owner: string, hostname: string, options: ContextOptions | tls.SecureContext): void {
    if (typeof hostname !== 'string' || hostname === '')
      throw new InvalidArgumentError(`${owner}.addContext(): hostname must be a non-empty string`)
    let context: tls.SecureContext
    try {
      context =
        'context' in options
          ? options
          : tls.createSecureContext({ sessionIdContext: SESSION_ID_CONTEXT, ...this.#base, ...options })
    } catch (error) {
      throw new InvalidArgumentError(`${owner}.addContext(${hostname}): ${(error as Error).message}`)
    }
    const key = hostname.toLowerCase()
    this.#names.delete(key) // re-added last: the newest of overlapping patterns wins, as in Node
    this.#names.set(key, { pattern: namePattern(hostname), context })
  }

  /** Removes a name added with `addContext()`; whether it was there. */
  removeContext(hostname: string): boolean {
    return this.#names.delete(hostname.toLowerCase())
  }

  readonly #byName = (
    servername: string,
    callback: (error: Error | null, context?: tls.SecureContext) => void,
  ) => {
    const exact = this.#names.get(servername.toLowerCase())
    if (exact) return callback(null, exact.context)
    const entries = [...this.#names.values()]
    for (let i = entries.length - 1; i >= 0; i--) {
      if (entries[i]!.pattern.test(servername)) return callback(null, entries[i]!.context)
    }
    callback(null, undefined) // the default context
  }

  /** The stage: the handshake within `handshakeTimeout`, then (mutual TLS) the client's certificate. */
  stage<A>(): ConnectionStage<net.Socket, A> {
    return { name: 'tls', admit: (socket, address) => this.#handshake(socket, address) }
  }

  #handshake<A>(socket: net.Socket, address: A): Promise<readonly [net.Socket, A]> {
    return new Promise((resolve, reject) => {
      const settle = (tlsSocket: tls.TLSSocket | undefined, error?: Error) => {
        if (this.#pending.get(socket) !== handshake) return
        this.#pending.delete(socket)
        clearTimeout(timer)
        socket.off('close', onClose)
        if (tlsSocket && !error) {
          tlsSocket.allowHalfOpen = true // a client that half-closes after its request still gets the reply
          tlsSocket.on('error', ignoreSocketError)
          // What a PROXY header said about the raw connection is the TLS connection's too.
          const proxied = proxyInfo(socket)
          if (proxied) setProxyInfo(tlsSocket, proxied)
          resolve([tlsSocket, address])
        } else {
          tlsSocket?.destroy()
          socket.destroy()
          reject(error)
        }
      }
      const handshake: Handshake = { settle }
      const onClose = () => settle(undefined, new TLSHandshakeError('the client closed the connection'))
      const timer =
        this.#timeout > 0
          ? setTimeout(() => settle(undefined, new TLSHandshakeTimeoutError(this.#timeout)), this.#timeout)
          : undefined
      this.#pending.set(socket, handshake)
      socket.once('close', onClose)
      // A client that ends its side mid-handshake (FIN) is refused at once, not at the deadline:
      // the TLSSocket takes allowHalfOpen from this socket, and gets it back once secure.
      socket.allowHalfOpen = false
      this.#server.emit('connection', socket)
    })
  }
}
