// Real senders of the PROXY protocol: Debian's HAProxy (v1, v2, v2 with TLVs, TLS terminated with
// the SSL TLVs) and curl --haproxy-protocol. Clients connect from 127.0.0.2 so that the original
// address differs from the proxy's (127.0.0.1).
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { freePort, type HAProxy, startHAProxy, waitFor } from '@socketserver/compliance-tests'
import { BaseRequestHandler, type InetAddress, type ProxyInfo, proxyInfo } from '@socketserver/core'
import { EventLoopTCPServer, type TCPServer } from '@socketserver/transport-tcp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

interface Seen {
  client: InetAddress
  info: ProxyInfo<InetAddress> | undefined
  line: string
}
const seen: Seen[] = []
let healthChecks = 0
// HAProxy closes a check connection (with a reset) right after its header: on some runtimes
// (seen on Node 26) the peer is gone by the time Node accepts it, and it is dropped unserved.
let vanishedChecks = 0

// Reads one line (or an HTTP request line) and answers with the client address it was given.
class Reporter extends BaseRequestHandler<net.Socket, InetAddress> {
  override async handle() {
    if (proxyInfo(this.request)?.command === 'LOCAL') {
      healthChecks++ // HAProxy's check: it connected with LOCAL and says nothing more
      return
    }
    let text = ''
    for (;;) {
      const [chunk] = (await once(this.request, 'data')) as [Buffer]
      text += chunk.toString('latin1')
      if (text.includes('\n')) break
    }
    const line = text.slice(0, text.indexOf('\n')).trimEnd()
    seen.push({ client: this.clientAddress, info: proxyInfo<InetAddress>(this.request), line })
    const body = `${this.clientAddress.address} ${this.clientAddress.port}\n`
    this.request.end(
      line.startsWith('GET ')
        ? `HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`
        : body,
    )
  }
}

let server: TCPServer
let haproxy: HAProxy
const ports = { v1: 0, v2: 0, tlvs: 0, ssl: 0, direct: 0 }

beforeAll(async () => {
  server = await EventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, Reporter, {
    proxyProtocol: { trustedProxies: ['127.0.0.1/32'] },
  })
  void server.serveForever({ pollInterval: 20 })
  server.socket!.on('connection', (socket: net.Socket) => {
    if (socket.remotePort === undefined) vanishedChecks++
  })
  const backend = `127.0.0.1:${server.serverAddress.port}`
  for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort()
  // A throwaway certificate for HAProxy's TLS frontend (SSL TLVs, SNI as AUTHORITY).
  const dir = execFileSync('mktemp', ['-d']).toString().trim()
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=chat.example',
      '-keyout',
      `${dir}/key.pem`,
      '-out',
      `${dir}/cert.pem`,
    ],
    { stdio: 'ignore' },
  )
  const pem = readFileSync(`${dir}/cert.pem`, 'utf8') + readFileSync(`${dir}/key.pem`, 'utf8')
  execFileSync('rm', ['-rf', dir])
  haproxy = await startHAProxy(
    `
listen v1
  bind 127.0.0.1:${ports.v1}
  server s ${backend} send-proxy
listen v2
  bind 127.0.0.1:${ports.v2}
  server s ${backend} send-proxy-v2 check inter 200ms check-send-proxy
listen tlvs
  bind 127.0.0.1:${ports.tlvs}
  unique-id-format tlv-%rt
  server s ${backend} send-proxy-v2 proxy-v2-options authority,unique-id,crc32c
listen ssl
  bind 127.0.0.1:${ports.ssl} ssl crt {dir}/site.pem
  unique-id-format ssl-%rt
  server s ${backend} send-proxy-v2 proxy-v2-options ssl,ssl-cipher,cert-sig,cert-key,authority,unique-id,crc32c
listen direct
  bind 127.0.0.1:${ports.direct}
  server s ${backend}
`,
    Object.values(ports),
    { 'site.pem': pem },
  )
}, 30_000)

afterAll(async () => {
  await haproxy?.stop()
  await server?.shutdownGracefully({ timeout: 1_000 })
})

/** Sends a line through HAProxy from 127.0.0.2; resolves with the reply and the client's own port. */
async function through(
  port: number,
  line: string,
  secure = false,
): Promise<{ reply: string; localPort: number }> {
  // tls.connect() passes localAddress on to net.connect(); its options type leaves it out.
  const socket = secure
    ? tls.connect({
        port,
        host: '127.0.0.1',
        localAddress: '127.0.0.2',
        servername: 'chat.example',
        rejectUnauthorized: false,
      } as tls.ConnectionOptions)
    : net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' })
  socket.on('error', () => {})
  await once(socket, secure ? 'secureConnect' : 'connect')
  const localPort = socket.localPort!
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.write(`${line}\n`)
  await once(socket, 'close')
  return { reply: Buffer.concat(chunks).toString(), localPort }
}

const last = (line: string) => seen.filter((s) => s.line === line).at(-1)!

describe('behind a real HAProxy', () => {
  it('send-proxy (v1): the server sees the original client, not HAProxy', async () => {
    const { reply, localPort } = await through(ports.v1, 'hello v1')
    expect(reply).toBe(`127.0.0.2 ${localPort}\n`)
    const { info } = last('hello v1')
    expect(info).toMatchObject({
      version: 1,
      command: 'PROXY',
      family: 'IPv4',
      proxyAddress: { address: '127.0.0.1' },
    })
    expect(info?.destination).toEqual({ address: '127.0.0.1', port: ports.v1 })
  })

  it('send-proxy-v2: the same, and its LOCAL health checks are admitted (or gone before accept), never refused', async () => {
    const { reply, localPort } = await through(ports.v2, 'hello v2')
    expect(reply).toBe(`127.0.0.2 ${localPort}\n`)
    expect(last('hello v2').info).toMatchObject({ version: 2, command: 'PROXY', transport: 'stream' })
    // HAProxy's checks (check-send-proxy) send LOCAL then close: admitted, never refused.
    await waitFor(() => healthChecks + vanishedChecks >= 2, { what: 'two LOCAL health checks' })
    expect(haproxy.output()).not.toMatch(/is DOWN/)
    expect([...server.refusedConnections.keys()].filter((code) => code !== 'SOCKSRV_PROXY_HEADER')).toEqual(
      [],
    )
  })

  it('proxy-v2-options authority,unique-id,crc32c: TLVs parsed, the checksum verified', async () => {
    const { reply, localPort } = await through(ports.tlvs, 'hello tlvs')
    expect(reply).toBe(`127.0.0.2 ${localPort}\n`)
    const { info } = last('hello tlvs')
    expect(info?.crc32c).toBeTypeOf('number')
    expect(info?.uniqueId?.toString()).toMatch(/^tlv-\d+$/)
    expect(info?.authority).toBeUndefined() // no SNI on a plain TCP frontend
  })

  it('TLS terminated by HAProxy (proxy-v2-options ssl,...): SSL TLV and sub-TLVs, SNI as AUTHORITY', async () => {
    const { reply, localPort } = await through(ports.ssl, 'hello ssl', true)
    expect(reply).toBe(`127.0.0.2 ${localPort}\n`)
    const { info } = last('hello ssl')
    expect(info?.authority).toBe('chat.example')
    expect((info?.ssl?.client ?? 0) & 0x01).toBe(1)
    expect(info?.ssl?.version).toMatch(/^TLSv1\.[23]$/)
    expect(info?.ssl?.cipher).toBeTruthy()
    expect(info?.uniqueId?.toString()).toMatch(/^ssl-\d+$/)
    expect(info?.crc32c).toBeTypeOf('number')
  })

  it('no send-proxy: the header is missing and the connection refused, no handler run', async () => {
    const before = seen.length
    const refused = server.refusedConnections.get('SOCKSRV_PROXY_HEADER') ?? 0
    expect((await through(ports.direct, 'hello direct')).reply).toBe('')
    expect(seen.length).toBe(before)
    expect(server.refusedConnections.get('SOCKSRV_PROXY_HEADER')).toBe(refused + 1)
  })

  it('curl --haproxy-protocol (a second real v1 sender), from 127.0.0.2 but trusted only via 127.0.0.1: refused; then trusted', async () => {
    const curl = (url: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn('curl', [
          '-s',
          '--max-time',
          '5',
          '--haproxy-protocol',
          '--interface',
          '127.0.0.2',
          url,
        ])
        let out = ''
        child.stdout.on('data', (chunk: Buffer) => (out += chunk))
        child.on('exit', (code) => resolve({ code, out }))
      })
    const url = `http://127.0.0.1:${server.serverAddress.port}/`
    // 127.0.0.2 is not a trusted proxy: refused before any read.
    const untrusted = server.refusedConnections.get('SOCKSRV_PROXY_UNTRUSTED') ?? 0
    expect((await curl(url)).out).toBe('')
    expect(server.refusedConnections.get('SOCKSRV_PROXY_UNTRUSTED')).toBe(untrusted + 1)
    // A second server trusting every address: curl's own header names 127.0.0.2 and its port.
    const open = await EventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, Reporter, {
      proxyProtocol: true,
    })
    void open.serveForever({ pollInterval: 20 })
    try {
      const { code, out } = await curl(`http://127.0.0.1:${open.serverAddress.port}/`)
      expect(code).toBe(0)
      expect(out).toMatch(/^127\.0\.0\.2 \d+\n$/)
      expect(last('GET / HTTP/1.1').info).toMatchObject({ version: 1, source: { address: '127.0.0.2' } })
    } finally {
      await open.shutdownGracefully({ timeout: 1_000 })
    }
  })
})
