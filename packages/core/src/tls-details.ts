import type net from 'node:net'
import type { Duplex } from 'node:stream'
import tls from 'node:tls'

/**
 * What a handler may read of a TLS connection that terminates in this process when the handler runs
 * in a worker thread or child process, which get the plaintext only (a `TLSSocket` cannot move):
 * plain data, so it crosses `postMessage` and the child's channel.
 */
export interface TLSDetails {
  readonly alpnProtocol: string | false | null
  readonly authorized: boolean
  readonly authorizationError: string | undefined
  readonly servername: string | false | undefined
  readonly protocol: string | null
  readonly cipher: tls.CipherNameAndProtocol
  /** `getPeerCertificate()` (not detailed): `{}` when the client sent none. */
  readonly peerCertificate: tls.PeerCertificate | Record<string, never>
}

/** The details of `socket` if it is a `TLSSocket`, else `undefined`. */
export function tlsDetails(socket: unknown): TLSDetails | undefined {
  if (!(socket instanceof tls.TLSSocket)) return undefined
  const error = socket.authorizationError as Error | string | undefined
  return {
    alpnProtocol: socket.alpnProtocol,
    authorized: socket.authorized,
    authorizationError: typeof error === 'string' ? error : (error as { code?: string } | undefined)?.code,
    servername: (socket as { servername?: string | false }).servername,
    protocol: socket.getProtocol(),
    cipher: socket.getCipher(),
    peerCertificate: socket.getPeerCertificate(false),
  }
}

/**
 * Gives a plaintext socket (a worker's proxy, a child's end of the bridge) the read-only TLS face of
 * the connection it carries: `encrypted`, `alpnProtocol`, `authorized`, `authorizationError`,
 * `servername`, `getPeerCertificate()`, `getProtocol()`, `getCipher()`, as on a `TLSSocket`.
 */
export function applyTLSDetails(socket: net.Socket | Duplex, details: TLSDetails): void {
  const certificate = { ...details.peerCertificate } as Record<string, unknown>
  // Buffers cross postMessage and the child's channel as Uint8Arrays.
  for (const key of ['raw', 'pubkey'])
    if (certificate[key] instanceof Uint8Array) certificate[key] = Buffer.from(certificate[key] as Uint8Array)
  Object.defineProperties(socket, {
    encrypted: { value: true },
    alpnProtocol: { value: details.alpnProtocol },
    authorized: { value: details.authorized },
    authorizationError: { value: details.authorizationError },
    servername: { value: details.servername },
    getPeerCertificate: { value: () => certificate },
    getProtocol: { value: () => details.protocol },
    getCipher: { value: () => details.cipher },
  })
}
