// The echo server's tls: listener, in every mode, with real TLS clients (openssl s_client,
// gnutls-cli); certificates made at test time.
import { afterEach, describe, expect, it } from 'vitest'
import { useCertificates } from '../../../packages/transport-tls/test/helpers/certs.js'
import { runClient } from '../../../packages/transport-tls/test/helpers/clients.js'
// The built server: the thread and fork modes load their handlers from dist/.
import { type EchoServer, startEchoServer } from '../dist/index.js'
import { parseCliArgs } from '../src/options.js'

const certs = useCertificates()
let echo: EchoServer | undefined
afterEach(async () => {
  await echo?.close()
  echo = undefined
})

describe('echo over TLS', () => {
  for (const mode of ['event-loop', 'sequential', 'thread', 'fork'] as const) {
    it(`echoes through openssl s_client (${mode})`, async () => {
      const { server } = certs()
      echo = await startEchoServer({
        mode,
        listeners: [{ transport: 'tls', host: '127.0.0.1', port: 0 }],
        tls: { key: server.key, cert: server.cert },
      })
      const { port } = echo.listeners[0]!.address as { port: number }
      const { stdout } = await runClient(
        'openssl',
        [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-CAfile',
          certs().ca.certFile,
          '-verify_return_error',
          '-quiet',
        ],
        { input: `hello ${mode}\n`, until: `hello ${mode}\n`, stop: true },
      )
      expect(stdout).toBe(`hello ${mode}\n`)
    })
  }

  it('echoes through gnutls-cli on IPv6', async () => {
    const { server } = certs()
    echo = await startEchoServer({
      listeners: [{ transport: 'tls', host: '::1', port: 0 }],
      tls: { key: server.key, cert: server.cert },
    })
    const { port } = echo.listeners[0]!.address as { port: number }
    const { stdout } = await runClient(
      'gnutls-cli',
      [
        '--x509cafile',
        certs().ca.certFile,
        '-p',
        String(port),
        '::1',
        '--sni-hostname',
        'localhost',
        '--verify-hostname',
        'localhost',
      ],
      { input: 'from gnutls\n', until: 'from gnutls\n', stop: true },
    )
    expect(stdout).toContain('from gnutls\n')
  })

  it('the command line: tls: listeners with --cert and --key, a usage error without', () => {
    const { server } = certs()
    const options = parseCliArgs([
      '--listen',
      'tls:[::1]:7443',
      '--cert',
      server.certFile,
      '--key',
      server.keyFile,
    ])
    expect(options.listeners).toEqual([{ transport: 'tls', host: '::1', port: 7443 }])
    expect(options.tls?.cert).toEqual(server.cert)
    expect(() => parseCliArgs(['--listen', 'tls:127.0.0.1:7443'])).toThrow(
      'tls: listeners need --cert and --key',
    )
    expect(() => parseCliArgs(['--cert', server.certFile])).toThrow('--cert and --key go together')
    expect(() =>
      parseCliArgs(['--listen', 'tls:127.0.0.1:1', '--cert', '/nonexistent', '--key', server.keyFile]),
    ).toThrow('--cert /nonexistent: ENOENT')
  })
})
