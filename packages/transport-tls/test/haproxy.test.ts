// A TLS server behind a real HAProxy that sends the PROXY protocol: the header arrives in plaintext
// before the handshake (read first: the mistake Twisted made, #9041, is to wrap the socket before
// reading it). Clients connect from 127.0.0.2 so the original address differs from HAProxy's.
import { once } from 'node:events'
import type net from 'node:net'
import tls from 'node:tls'
import { freePort, type HAProxy, startHAProxy } from '@socketserver/compliance-tests'
import { BaseRequestHandler, type InetAddress, type ProxyInfo, proxyInfo } from '@socketserver/core'
import { EventLoopTLSServer } from '@socketserver/transport-tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useCertificates } from './helpers/certs.js'

interface Seen {
  client: InetAddress
  info: ProxyInfo<InetAddress> | undefined
  servername: string | false | null
}
const seen = new Map<string, Seen>()
const refusedFrom: string[] = []

// Reads one line over TLS and answers with the client address it was given.
class Reporter extends BaseRequestHandler<tls.TLSSocket, InetAddress> {
  override async handle() {
    let text = ''
    while (!text.includes('\n')) text += ((await once(this.request, 'data')) as [Buffer])[0].toString()
    const line = text.slice(0, text.indexOf('\n'))
    seen.set(line, {
      client: this.clientAddress,
      info: proxyInfo<InetAddress>(this.request),
      servername: this.request.servername,
    })
    this.request.end(`${this.clientAddress.address} ${this.clientAddress.port}\n`)
  }
}

const certificates = useCertificates()
let server: EventLoopTLSServer
let haproxy: HAProxy
const ports = { passthrough: 0, reencrypt: 0 }

beforeAll(async () => {
  const { server: cert } = certificates()
  server = await EventLoopTLSServer.create({ host: '127.0.0.1', port: 0 }, Reporter, {
    tls: { key: cert.key, cert: cert.cert },
    proxyProtocol: { trustedProxies: ['127.0.0.1/32'] },
  })
  void server.serveForever({ pollInterval: 20 })
  // HAProxy itself may end a backend connection mid-handshake (refused at once, from 127.0.0.1):
  // what matters is that no client's connection is refused.
  server.handleRefusal = (_request, address) => void refusedFrom.push(address.address)
  const backend = `127.0.0.1:${server.serverAddress.port}`
  for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort()
  haproxy = await startHAProxy(
    `
listen passthrough
  bind 127.0.0.1:${ports.passthrough}
  server s ${backend} send-proxy-v2
listen reencrypt
  bind 127.0.0.1:${ports.reencrypt} ssl crt {dir}/site.pem
  server s ${backend} ssl verify none sni str(backend.test) send-proxy-v2-ssl
`,
    Object.values(ports),
    { 'site.pem': cert.cert.toString() + cert.key.toString() },
  )
}, 30_000)

afterAll(async () => {
  await haproxy?.stop()
  await server?.shutdownGracefully({ timeout: 1_000 })
})

/** A TLS exchange through HAProxy from 127.0.0.2: the reply and the client's own port. */
async function exchange(port: number, line: string): Promise<{ reply: string; localPort: number }> {
  // tls.connect() passes localAddress on to net.connect(); its options type leaves it out.
  const socket = tls.connect({
    port,
    host: '127.0.0.1',
    localAddress: '127.0.0.2',
    servername: 'localhost',
    ca: certificates().ca.cert,
  } as tls.ConnectionOptions)
  socket.on('error', () => {})
  await once(socket, 'secureConnect')
  const localPort = (socket as unknown as net.Socket).localPort!
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.write(`${line}\n`)
  await once(socket, 'close')
  return { reply: Buffer.concat(chunks).toString(), localPort }
}

describe('a TLS server behind a real HAProxy', () => {
  it('TLS passed through with send-proxy-v2: the header is read before the handshake; the server sees the original client', async () => {
    const { reply, localPort } = await exchange(ports.passthrough, 'passed through')
    expect(reply).toBe(`127.0.0.2 ${localPort}\n`)
    const seenBy = seen.get('passed through')
    expect(seenBy?.info).toMatchObject({
      version: 2,
      command: 'PROXY',
      proxyAddress: { address: '127.0.0.1' },
    })
    expect(seenBy?.servername).toBe('localhost') // the client's own handshake reached the server
  })

  it('HAProxy terminating and re-encrypting with send-proxy-v2-ssl: the SSL TLV of the client side reaches the handler', async () => {
    const { reply, localPort } = await exchange(ports.reencrypt, 're-encrypted')
    expect(reply).toBe(`127.0.0.2 ${localPort}\n`)
    const seenBy = seen.get('re-encrypted')
    expect(seenBy?.servername).toBe('backend.test') // HAProxy's own handshake to us
    expect(seenBy?.info?.ssl).toMatchObject({ version: expect.stringMatching(/^TLSv1\.[23]$/) })
    expect((seenBy?.info?.ssl?.client ?? 0) & 0x01).toBe(1) // PP2_CLIENT_SSL: the client spoke TLS
    expect(refusedFrom).not.toContain('127.0.0.2')
  })
})
