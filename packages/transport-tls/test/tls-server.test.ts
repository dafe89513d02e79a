import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { channels, InvalidArgumentError } from '@socketserver/core'
import { StreamRequestHandler } from '@socketserver/stream-handlers'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { EventLoopUnixStreamTLSServer, TLSServer } from '../src/index.js'
import { type TestCertificates, useCertificates } from './helpers/certs.js'
import { InfoHandler, startServer, stopServers } from './helpers/servers.js'

const certificates = useCertificates()
let certs: TestCertificates
beforeEach(() => {
  certs = certificates()
})
afterEach(stopServers)

const tlsOf = () => ({ key: certs.server.key, cert: certs.server.cert })

/** One exchange with Node's TLS client: the reply and the server certificate's fingerprint. */
function exchange(
  port: number,
  options: tls.ConnectionOptions = {},
  line = 'hi\n',
): Promise<{ reply: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: certs.ca.cert,
      servername: 'localhost',
      ...options,
    })
    let reply = ''
    socket.on('secureConnect', () => socket.write(line))
    socket.on('data', (chunk) => (reply += chunk))
    socket.on('error', reject)
    socket.on('end', () => resolve({ reply, fingerprint: socket.getPeerCertificate().fingerprint256 }))
  })
}

/** What the server refused, as the diagnostics channel published it. */
function refusals(): { codes: string[]; stop(): void } {
  const codes: string[] = []
  const listener = (message: unknown) => codes.push((message as { error: { code: string } }).error.code)
  diagnostics.subscribe(channels.connectionRefused.name, listener)
  return { codes, stop: () => diagnostics.unsubscribe(channels.connectionRefused.name, listener) }
}

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('handshake before the queue', () => {
  it('a one-at-a-time server serves a client while another dawdles in its handshake', async () => {
    const server = await TLSServer.create({ host: '127.0.0.1', port: 0 }, InfoHandler, { tls: tlsOf() })
    void server.serveForever({ pollInterval: 20 })
    try {
      const dawdler = net.connect(server.serverAddress.port, '127.0.0.1')
      dawdler.on('error', () => {})
      await once(dawdler, 'connect')
      dawdler.write(Buffer.from([0x16, 0x03, 0x01])) // the start of a ClientHello, then nothing
      const { reply } = await exchange(server.serverAddress.port)
      expect(reply).toBe('hi|TLSv1.3|alpn=-|sni=localhost|peer=-\n')
      dawdler.destroy()
    } finally {
      await server.shutdownGracefully({ timeout: 1_000 })
    }
  })

  it('refusals are coded, counted, published, and never reach a handler', async () => {
    const seen = refusals()
    let handled = 0
    class Counting extends InfoHandler {
      override async handle() {
        handled++
        await super.handle()
      }
    }
    const server = await startServer({ tls: tlsOf(), handshakeTimeout: 300 }, { Handler: Counting })
    const port = server.serverAddress.port
    try {
      // Garbage instead of a ClientHello.
      const garbage = net.connect(port, '127.0.0.1', () => garbage.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
      garbage.on('error', () => {})
      await once(garbage, 'close')
      // Silent past handshakeTimeout.
      const silent = net.connect(port, '127.0.0.1')
      silent.on('error', () => {})
      await once(silent, 'close')
      // A client that does not support TLS 1.3 against a server that requires it.
      const old = await startServer({ tls: { ...tlsOf(), minVersion: 'TLSv1.3' } })
      await expect(exchange(old.serverAddress.port, { maxVersion: 'TLSv1.2' })).rejects.toThrow()
      await until(() => seen.codes.length >= 3, 'three refusals')
      expect(seen.codes.sort()).toEqual([
        'SOCKSRV_TLS_HANDSHAKE',
        'SOCKSRV_TLS_HANDSHAKE',
        'SOCKSRV_TLS_HANDSHAKE_TIMEOUT',
      ])
      expect(Object.fromEntries(server.refusedConnections)).toEqual({
        SOCKSRV_TLS_HANDSHAKE: 1,
        SOCKSRV_TLS_HANDSHAKE_TIMEOUT: 1,
      })
      expect(handled).toBe(0)
      // And the server still serves.
      expect((await exchange(port)).reply).toContain('hi|')
    } finally {
      seen.stop()
    }
  })

  it('a client that ends its side mid-handshake is refused at once; one that half-closes after its request gets the reply', async () => {
    const server = await startServer({ tls: tlsOf(), handshakeTimeout: 5_000 })
    const port = server.serverAddress.port
    const started = Date.now()
    const quitter = net.connect(port, '127.0.0.1', () => quitter.end(Buffer.from([0x16, 0x03, 0x01, 0x00])))
    quitter.on('error', () => {})
    await once(quitter, 'close')
    await until(() => server.refusedConnections.get('SOCKSRV_TLS_HANDSHAKE') === 1, 'the refusal')
    expect(Date.now() - started).toBeLessThan(2_000) // not at handshakeTimeout
    // After the handshake the connection is half-open again: request, FIN, then the reply.
    const client = tls.connect({ host: '127.0.0.1', port, ca: certs.ca.cert, servername: 'localhost' })
    let reply = ''
    client.on('data', (chunk) => (reply += chunk))
    await once(client, 'secureConnect')
    client.end('half\n')
    await once(client, 'close')
    expect(reply).toBe('half|TLSv1.3|alpn=-|sni=localhost|peer=-\n')
  })

  it('serverClose() closes connections still in their handshake (not counted as refusals)', async () => {
    const server = await startServer({ tls: tlsOf() })
    const silent = net.connect(server.serverAddress.port, '127.0.0.1')
    silent.on('error', () => {})
    await once(silent, 'connect')
    await new Promise((r) => setTimeout(r, 50))
    await stopServers()
    await once(silent, 'close')
    expect(server.refusedConnections.size).toBe(0)
  })

  it('serves IPv6 and Unix stream sockets', async () => {
    const v6 = await startServer({ tls: tlsOf() }, { host: '::1' })
    expect((await exchange(v6.serverAddress.port, { host: '::1' })).reply).toContain('hi|TLSv1.3')
    const path = join(tmpdir(), `socksrv-tls-${process.pid}-${Date.now()}.sock`)
    const unix = await EventLoopUnixStreamTLSServer.create(path, InfoHandler, { tls: tlsOf() })
    void unix.serveForever({ pollInterval: 50 })
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = tls.connect({ path, ca: certs.ca.cert, servername: 'localhost' }, () =>
          socket.write('unix\n'),
        )
        let data = ''
        socket.on('data', (chunk) => (data += chunk))
        socket.on('error', reject)
        socket.on('end', () => resolve(data))
      })
      expect(reply).toBe('unix|TLSv1.3|alpn=-|sni=localhost|peer=-\n')
    } finally {
      await unix.shutdownGracefully({ timeout: 1_000 })
    }
  })

  it('bad tls options are InvalidArgumentError at construction', () => {
    expect(
      () =>
        new TLSServer({ host: '127.0.0.1', port: 0 }, InfoHandler, {
          tls: { key: 'not a key', cert: 'x' },
          bindAndActivate: false,
        }),
    ).toThrow(InvalidArgumentError)
    expect(
      () =>
        new TLSServer({ host: '127.0.0.1', port: 0 }, InfoHandler, {
          tls: { handshakeTimeout: 5 } as tls.TlsOptions,
          bindAndActivate: false,
        }),
    ).toThrow(/handshakeTimeout option/)
    expect(
      () =>
        new TLSServer({ host: '127.0.0.1', port: 0 }, InfoHandler, {
          handshakeTimeout: -1,
          bindAndActivate: false,
        }),
    ).toThrow(InvalidArgumentError)
  })
})

describe('mutual TLS', () => {
  const mtls = () => ({ ...tlsOf(), ca: certs.ca.cert, requestCert: true })
  const client = () => ({ key: certs.client.key, cert: certs.client.cert })

  it('refuses clients without a good certificate, with the reason', async () => {
    const seen = refusals()
    try {
      const server = await startServer({ tls: mtls() })
      const port = server.serverAddress.port
      const attempts = [
        {},
        { key: certs.foreignClient.key, cert: certs.foreignClient.cert },
        { key: certs.expiredClient.key, cert: certs.expiredClient.cert },
      ]
      for (const options of attempts) {
        // TLS 1.3: the client's handshake completes before the server checks its certificate.
        await exchange(port, options).catch(() => {})
      }
      await until(() => server.refusedConnections.get('SOCKSRV_TLS_UNAUTHORIZED') === 3, 'three refusals')
      expect(seen.codes).toEqual([
        'SOCKSRV_TLS_UNAUTHORIZED',
        'SOCKSRV_TLS_UNAUTHORIZED',
        'SOCKSRV_TLS_UNAUTHORIZED',
      ])
      expect((await exchange(port, client())).reply).toContain(`|peer=${certs.client.fingerprint256}`)
    } finally {
      seen.stop()
    }
  })

  it('the reasons: no certificate, an unknown issuer, an expired one', async () => {
    const reasons: string[] = []
    const listener = (message: unknown) =>
      reasons.push((message as { error: { authorizationError: string } }).error.authorizationError)
    diagnostics.subscribe(channels.connectionRefused.name, listener)
    try {
      const server = await startServer({ tls: mtls() })
      await exchange(server.serverAddress.port, {}).catch(() => {})
      await exchange(server.serverAddress.port, {
        key: certs.foreignClient.key,
        cert: certs.foreignClient.cert,
      }).catch(() => {})
      await exchange(server.serverAddress.port, {
        key: certs.expiredClient.key,
        cert: certs.expiredClient.cert,
      }).catch(() => {})
      await until(() => reasons.length === 3, 'three refusals')
      expect(reasons).toEqual(['NO_CERTIFICATE', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED'])
    } finally {
      diagnostics.unsubscribe(channels.connectionRefused.name, listener)
    }
  })

  it('verifyRequest sees the peer certificate: an allow-list of fingerprints', async () => {
    const allowed = new Set([certs.client.fingerprint256])
    class AllowListed extends TLSServer {
      override verifyRequest(request: net.Socket): boolean {
        return allowed.has((request as tls.TLSSocket).getPeerCertificate().fingerprint256)
      }
    }
    const other = certs.issue('client two', { sans: [], client: true })
    const server = await AllowListed.create({ host: '127.0.0.1', port: 0 }, InfoHandler, { tls: mtls() })
    void server.serveForever({ pollInterval: 20 })
    try {
      expect((await exchange(server.serverAddress.port, client())).reply).toContain('hi|')
      const refused = await exchange(server.serverAddress.port, { key: other.key, cert: other.cert }).catch(
        () => ({ reply: '' }),
      )
      expect(refused.reply).toBe('')
    } finally {
      await server.shutdownGracefully({ timeout: 1_000 })
    }
  })

  it('rejectUnauthorized: false lets unauthenticated clients in; the handler sees authorized', async () => {
    class Authorized extends StreamRequestHandler {
      override async handle() {
        const socket = this.request as unknown as tls.TLSSocket
        await this.rfile.readline()
        await this.wfile.write(`${socket.authorized}:${socket.authorizationError ?? '-'}\n`)
      }
    }
    const server = await startServer(
      { tls: { ...mtls(), rejectUnauthorized: false } },
      { Handler: Authorized },
    )
    expect((await exchange(server.serverAddress.port)).reply).toBe('false:UNABLE_TO_GET_ISSUER_CERT\n')
    expect((await exchange(server.serverAddress.port, client())).reply).toBe('true:-\n')
  })
})

describe('certificates', () => {
  it('setSecureContext under continuous load: no failed connection; new ones see the new certificate', async () => {
    const server = await startServer({ tls: tlsOf() })
    const port = server.serverAddress.port
    // A connection opened before the reload keeps going after it.
    const early = tls.connect({ host: '127.0.0.1', port, ca: certs.ca.cert, servername: 'localhost' })
    await once(early, 'secureConnect')
    let failures = 0
    let done = 0
    let reloadedAt = 0
    const afterReload: string[] = []
    let stop = false
    const loop = async () => {
      while (!stop) {
        const started = Date.now()
        try {
          const { reply, fingerprint } = await exchange(port)
          if (!reply.startsWith('hi|')) failures++
          if (reloadedAt && started > reloadedAt) afterReload.push(fingerprint)
          done++
        } catch {
          failures++
        }
      }
    }
    const loops = Array.from({ length: 4 }, loop)
    await new Promise((r) => setTimeout(r, 400))
    server.setSecureContext({ key: certs.server2.key, cert: certs.server2.cert })
    reloadedAt = Date.now()
    await new Promise((r) => setTimeout(r, 400))
    stop = true
    await Promise.all(loops)
    early.write('early\n')
    const [reply] = (await once(early, 'data')) as [Buffer]
    expect(reply.toString()).toContain('early|TLSv1.3')
    expect(failures).toBe(0)
    expect(done).toBeGreaterThan(20)
    expect(afterReload.length).toBeGreaterThan(5)
    expect(new Set(afterReload)).toEqual(new Set([certs.server2.fingerprint256]))
    expect(early.getPeerCertificate().fingerprint256).toBe(certs.server.fingerprint256)
    early.destroy()
  })

  it('addContext() again reloads one name; others keep theirs', async () => {
    const server = await startServer({ tls: tlsOf() })
    server.addContext('a.test', { key: certs.named['a.test'].key, cert: certs.named['a.test'].cert })
    server.addContext('b.test', { key: certs.named['b.test'].key, cert: certs.named['b.test'].cert })
    const port = server.serverAddress.port
    expect((await exchange(port, { servername: 'a.test' })).fingerprint).toBe(
      certs.named['a.test'].fingerprint256,
    )
    const a2 = certs.issue('a.test')
    server.addContext('a.test', { key: a2.key, cert: a2.cert })
    expect((await exchange(port, { servername: 'a.test' })).fingerprint).toBe(a2.fingerprint256)
    expect((await exchange(port, { servername: 'b.test' })).fingerprint).toBe(
      certs.named['b.test'].fingerprint256,
    )
    expect(server.removeContext('b.test')).toBe(true)
    expect((await exchange(port, { servername: 'localhost' })).fingerprint).toBe(certs.server.fingerprint256)
  })
})
