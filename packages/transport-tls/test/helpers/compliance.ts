// What the TLS compliance runs share: certificates made once per file, and server classes that
// carry them (the suite constructs servers itself, so the `tls` option comes with the class).
import type { ServerClass } from '@socketserver/compliance-tests'
import { afterAll } from 'vitest'
import { makeCertificates } from './certs.js'

export const certs = makeCertificates()
afterAll(() => certs.remove())

/** The client options that trust the test CA. */
export const trust = { ca: certs.ca.cert, servername: 'localhost' }

/** `Server` with the test server certificate as its default `tls` option. */
export function withCertificate<S extends ServerClass>(Server: S): S {
  const Base = Server as unknown as new (...args: any[]) => object
  const Named = {
    [Server.name]: class extends Base {
      constructor(address: unknown, Handler: unknown, options: Record<string, unknown> = {}) {
        super(address, Handler, { tls: { key: certs.server.key, cert: certs.server.cert }, ...options })
      }
    },
  }[Server.name]!
  return Named as unknown as S
}
