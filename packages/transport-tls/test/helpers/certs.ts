// Certificates made at test time with the openssl command line (never committed): a CA, server
// certificates for several names (one a wildcard), client certificates from that CA, from another
// CA, and an expired one. EC P-256 keys: quick to make, quick to handshake.
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'

export interface Issued {
  /** Paths, for command-line clients. */
  readonly keyFile: string
  readonly certFile: string
  /** Contents, for Node's `tls` options. */
  readonly key: Buffer
  readonly cert: Buffer
  /** `SHA-256` fingerprint as `getPeerCertificate().fingerprint256` gives it (`AA:BB:...`). */
  readonly fingerprint256: string
  readonly subject: string
}

export interface TestCertificates {
  readonly dir: string
  readonly ca: Issued
  readonly otherCa: Issued
  /** For `localhost`, `127.0.0.1`, `::1`. */
  readonly server: Issued
  /** The same names, another key: what a reload swaps in. */
  readonly server2: Issued
  /** SNI: `a.test`, `b.test`, and `*.wild.test`. */
  readonly named: Record<'a.test' | 'b.test' | '*.wild.test', Issued>
  readonly client: Issued
  readonly foreignClient: Issued
  readonly expiredClient: Issued
  /** Issues one more certificate from the test CA (`-days -1` for an expired one). */
  issue(name: string, options?: { sans?: string[]; days?: number; client?: boolean }): Issued
  remove(): void
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

function issued(dir: string, base: string): Issued {
  const keyFile = join(dir, `${base}.key`)
  const certFile = join(dir, `${base}.pem`)
  const cert = readFileSync(certFile)
  const x509 = new X509Certificate(cert)
  return {
    keyFile,
    certFile,
    key: readFileSync(keyFile),
    cert,
    fingerprint256: x509.fingerprint256,
    subject: x509.subject,
  }
}

function makeCa(dir: string, base: string, cn: string): Issued {
  openssl([
    'req',
    '-x509',
    ...KEY,
    '-keyout',
    join(dir, `${base}.key`),
    '-out',
    join(dir, `${base}.pem`),
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ])
  return issued(dir, base)
}

let serial = 0

function issueFrom(
  dir: string,
  ca: Issued,
  name: string,
  sans: string[],
  days: number,
  client: boolean,
): Issued {
  const base = `${name.replace(/[^\w.-]/g, '_')}-${++serial}`
  const ext = join(dir, `${base}.ext`)
  writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      `extendedKeyUsage=${client ? 'clientAuth' : 'serverAuth'}`,
      ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : []),
    ].join('\n'),
  )
  openssl([
    'req',
    ...KEY,
    '-keyout',
    join(dir, `${base}.key`),
    '-out',
    join(dir, `${base}.csr`),
    '-subj',
    `/CN=${name}`,
  ])
  openssl([
    'x509',
    '-req',
    '-in',
    join(dir, `${base}.csr`),
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-set_serial',
    String(Date.now() * 100 + serial),
    '-days',
    String(days),
    '-extfile',
    ext,
    '-out',
    join(dir, `${base}.pem`),
  ])
  return issued(dir, base)
}

/** Makes a fresh set in a new temporary directory; call `remove()` when done. */
export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'socksrv-tls-'))
  const ca = makeCa(dir, 'ca', 'socketserver test CA')
  const otherCa = makeCa(dir, 'other-ca', 'another CA')
  const local = ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1']
  const issue: TestCertificates['issue'] = (
    name,
    { sans = [`DNS:${name}`], days = 2, client = false } = {},
  ) => issueFrom(dir, ca, name, sans, days, client)
  return {
    dir,
    ca,
    otherCa,
    server: issue('localhost', { sans: local }),
    server2: issue('localhost', { sans: local }),
    named: {
      'a.test': issue('a.test'),
      'b.test': issue('b.test'),
      '*.wild.test': issue('*.wild.test'),
    },
    client: issue('client one', { sans: [], client: true }),
    foreignClient: issueFrom(dir, otherCa, 'stranger', [], 2, true),
    expiredClient: issue('expired client', { sans: [], days: -1, client: true }),
    issue,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** Makes a set before the file's tests and removes it after: `const certs = useCertificates()` then `certs()`. */
export function useCertificates(): () => TestCertificates {
  let made: TestCertificates | undefined
  beforeAll(() => {
    made = makeCertificates()
  })
  afterAll(() => made?.remove())
  return () => made!
}
