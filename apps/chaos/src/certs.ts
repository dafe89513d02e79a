// Scenario 12's certificates, made at run time with the openssl command line into a temporary
// directory (never committed). The packages' test helper imports vitest, so the suite has its own.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A key and its certificate, as file paths (the server and openssl read files). */
export interface Pair {
  key: string
  cert: string
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
const openssl = (args: string[], input?: Buffer) =>
  execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] })

export function makeCertificates() {
  const dir = mkdtempSync(join(tmpdir(), 'socksrv-chaos-tls-'))
  const files = (name: string): Pair => ({ key: join(dir, `${name}.key`), cert: join(dir, `${name}.pem`) })
  const authority = (name: string) => {
    const pair = files(name)
    openssl([
      'req',
      '-x509',
      ...EC,
      '-keyout',
      pair.key,
      '-out',
      pair.cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ])
    return pair
  }
  // `days` -1: expired (x509 takes a negative -days, req does not, hence the two steps).
  const leaf = (name: string, ca: Pair, usage: 'serverAuth' | 'clientAuth', days: number, san?: string) => {
    const pair = files(name)
    const extensions = [`extendedKeyUsage=${usage}`, ...(san ? [`subjectAltName=${san}`] : [])]
    const csr = openssl([
      'req',
      '-new',
      ...EC,
      '-keyout',
      pair.key,
      '-subj',
      `/CN=${name}`,
      ...extensions.flatMap((e) => ['-addext', e]),
    ])
    openssl(
      [
        'x509',
        '-req',
        '-copy_extensions',
        'copy',
        '-CA',
        ca.cert,
        '-CAkey',
        ca.key,
        '-days',
        String(days),
        '-out',
        pair.cert,
      ],
      csr,
    )
    return pair
  }
  const ca = authority('chaos-ca')
  const otherCa = authority('other-ca')
  return {
    dir,
    ca,
    server: leaf('localhost', ca, 'serverAuth', 2, 'DNS:localhost,IP:127.0.0.1'),
    expiredServer: leaf('expired.test', ca, 'serverAuth', -1, 'DNS:expired.test'),
    client: leaf('client', ca, 'clientAuth', 2),
    foreignClient: leaf('stranger', otherCa, 'clientAuth', 2),
    expiredClient: leaf('expired-client', ca, 'clientAuth', -1),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
