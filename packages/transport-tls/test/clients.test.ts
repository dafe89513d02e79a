// Real TLS clients nobody here wrote, each round-tripping bytes with a TLS server: openssl s_client
// (TLS 1.2 and 1.3, SNI, ALPN, mutual TLS), socat, Python's ssl module and gnutls-cli (GnuTLS, a
// second TLS stack).
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type TestCertificates, useCertificates } from './helpers/certs.js'
import { runClient } from './helpers/clients.js'
import { startServer, stopServers } from './helpers/servers.js'

const certificates = useCertificates()
let certs: TestCertificates
beforeEach(() => {
  certs = certificates()
})
afterEach(stopServers)

const tlsOf = () => ({ key: certs.server.key, cert: certs.server.cert })

/** `openssl s_client -quiet` (implies -ign_eof): verifies the server against the test CA. */
function sClient(port: number, extra: string[], input = 'hello\n') {
  return runClient(
    'openssl',
    [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-CAfile',
      certs.ca.certFile,
      '-verify_return_error',
      '-quiet',
      ...extra,
    ],
    { input, until: '\n' },
  )
}

describe('openssl s_client', () => {
  for (const version of ['-tls1_2', '-tls1_3']) {
    it(`round-trips over ${version}`, async () => {
      const server = await startServer({ tls: tlsOf() })
      const { stdout } = await sClient(server.serverAddress.port, [version, '-verify_hostname', 'localhost'])
      expect(stdout).toBe(`hello|${version === '-tls1_2' ? 'TLSv1.2' : 'TLSv1.3'}|alpn=-|sni=-|peer=-\n`)
    })
  }

  it('SNI: each name gets its certificate, exact and wildcard; others get the default', async () => {
    const server = await startServer({ tls: { ...tlsOf(), ca: certs.ca.cert } })
    for (const name of ['a.test', 'b.test', '*.wild.test'] as const) {
      server.addContext(name, { key: certs.named[name].key, cert: certs.named[name].cert })
    }
    for (const [servername, expected] of [
      ['a.test', 'a.test'],
      ['B.Test', 'b.test'],
      ['x.wild.test', '*.wild.test'],
    ] as const) {
      const { stdout } = await sClient(server.serverAddress.port, [
        '-servername',
        servername,
        '-verify_hostname',
        servername.toLowerCase(),
      ])
      expect(stdout, `${servername} -> ${expected}`).toBe(`hello|TLSv1.3|alpn=-|sni=${servername}|peer=-\n`)
    }
    // a.b.wild.test is two labels: not covered by *.wild.test, so the default (localhost) answers.
    const { stdout } = await sClient(server.serverAddress.port, [
      '-servername',
      'a.b.wild.test',
      '-verify_hostname',
      'localhost',
    ])
    expect(stdout).toContain('|sni=a.b.wild.test|')
  })

  it('ALPN: the protocol chosen is the handler’s request.alpnProtocol', async () => {
    const server = await startServer({ tls: { ...tlsOf(), ALPNProtocols: ['echo/1', 'http/1.1'] } })
    const { stdout } = await sClient(server.serverAddress.port, ['-alpn', 'h2,echo/1'])
    expect(stdout).toBe('hello|TLSv1.3|alpn=echo/1|sni=-|peer=-\n')
  })

  it('mutual TLS: the client certificate reaches the handler', async () => {
    const server = await startServer({ tls: { ...tlsOf(), ca: certs.ca.cert, requestCert: true } })
    for (const version of ['-tls1_2', '-tls1_3']) {
      const { stdout } = await sClient(server.serverAddress.port, [
        version,
        '-cert',
        certs.client.certFile,
        '-key',
        certs.client.keyFile,
      ])
      expect(stdout).toContain(`|peer=${certs.client.fingerprint256}\n`)
    }
  })
})

describe('other stacks', () => {
  it('socat OPENSSL:', async () => {
    const server = await startServer({ tls: tlsOf() })
    const { stdout } = await runClient(
      'socat',
      [
        '-',
        `OPENSSL:127.0.0.1:${server.serverAddress.port},cafile=${certs.ca.certFile},verify=1,commonname=localhost`,
      ],
      { input: 'from socat\n', until: '\n' },
    )
    expect(stdout).toMatch(/^from socat\|TLSv1\.[23]\|alpn=-\|sni=localhost\|peer=-\n$/)
  })

  it("Python's ssl module (mutual TLS, ALPN)", async () => {
    const server = await startServer({
      tls: { ...tlsOf(), ca: certs.ca.cert, requestCert: true, ALPNProtocols: ['echo/1'] },
    })
    const script = [
      'import socket, ssl, sys',
      `ctx = ssl.create_default_context(cafile=${JSON.stringify(certs.ca.certFile)})`,
      `ctx.load_cert_chain(${JSON.stringify(certs.client.certFile)}, ${JSON.stringify(certs.client.keyFile)})`,
      "ctx.set_alpn_protocols(['echo/1'])",
      `with socket.create_connection(('127.0.0.1', ${server.serverAddress.port})) as raw:`,
      "    with ctx.wrap_socket(raw, server_hostname='localhost') as s:",
      "        s.sendall(b'from python\\n')",
      "        data = b''",
      '        while True:',
      '            chunk = s.recv(4096)',
      '            if not chunk: break',
      '            data += chunk',
      '        sys.stdout.write(data.decode())',
    ].join('\n')
    const { stdout, stderr } = await runClient('python3', ['-c', script])
    expect(stderr).toBe('')
    expect(stdout).toBe(`from python|TLSv1.3|alpn=echo/1|sni=localhost|peer=${certs.client.fingerprint256}\n`)
  })

  it('gnutls-cli (GnuTLS)', async () => {
    const server = await startServer({ tls: tlsOf() }, { host: '::1' })
    const { stdout } = await runClient(
      'gnutls-cli',
      [
        '--x509cafile',
        certs.ca.certFile,
        '-p',
        String(server.serverAddress.port),
        '::1',
        '--sni-hostname',
        'localhost',
        '--verify-hostname',
        'localhost',
      ],
      { input: 'from gnutls\n', until: 'from gnutls|' },
    )
    expect(stdout).toMatch(/from gnutls\|TLSv1\.3\|alpn=-\|sni=localhost\|peer=-\n/)
  })
})
