/**
 * The TLS scenarios' certificates, made at bench time (never committed): a CA and a server
 * certificate for localhost/127.0.0.1 from it, EC P-256. The harness makes them once
 * (`prepareBenchTLS`) and names their directory in the environment, which the servers and the load
 * generator (started after) inherit; they read them with `benchTLS`.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export const BENCH_TLS_ENV = 'SOCKSRV_BENCH_TLS_DIR'

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

/** Makes the certificates unless the environment names them already; removed when the harness exits. */
export function prepareBenchTLS(): void {
  if (process.env[BENCH_TLS_ENV]) return
  const dir = mkdtempSync(path.join(os.tmpdir(), 'socketserver-bench-tls-'))
  const at = (name: string) => path.join(dir, name)
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  openssl([
    'req',
    '-x509',
    ...KEY,
    '-keyout',
    at('ca.key'),
    '-out',
    at('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=bench CA',
  ])
  openssl(['req', ...KEY, '-keyout', at('key.pem'), '-out', at('server.csr'), '-subj', '/CN=localhost'])
  writeFileSync(at('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n')
  openssl([
    'x509',
    '-req',
    '-in',
    at('server.csr'),
    '-CA',
    at('ca.pem'),
    '-CAkey',
    at('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    at('server.ext'),
    '-out',
    at('cert.pem'),
  ])
  process.env[BENCH_TLS_ENV] = dir
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
}

/** The server's key and certificate and the CA that issued it. */
export function benchTLS(): { key: Buffer; cert: Buffer; ca: Buffer } {
  const dir = process.env[BENCH_TLS_ENV]
  if (!dir) throw new Error(`${BENCH_TLS_ENV} is not set: the bench harness makes the TLS certificates`)
  const read = (name: string) => readFileSync(path.join(dir, name))
  return { key: read('key.pem'), cert: read('cert.pem'), ca: read('ca.pem') }
}
