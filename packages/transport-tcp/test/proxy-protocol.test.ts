import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import net from 'node:net'
import { PROXY_BAD_HEADERS as BAD, PROXY_GOOD_HEADERS as GOOD } from '@socketserver/compliance-tests'
import {
  AccessControl,
  BaseRequestHandler,
  encodeProxyHeader,
  type InetAddress,
  InvalidArgumentError,
  proxyInfo,
} from '@socketserver/core'
import { EventLoopTCPServer, TCPServer, type TCPServerOptions } from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'

// Answers with what it saw: the client address, the proxy info, and every byte after the header.
class Report extends BaseRequestHandler<net.Socket, InetAddress> {
  static handled = 0
  override async handle() {
    Report.handled++
    const chunks: Buffer[] = []
    this.request.on('data', (chunk: Buffer) => chunks.push(chunk))
    await once(this.request, 'end') // not `for await`: it would destroy the socket before the reply
    const info = proxyInfo<InetAddress>(this.request)
    this.request.end(
      JSON.stringify({
        client: this.clientAddress,
        command: info?.command,
        proxyAddress: info?.proxyAddress,
        authority: info?.authority,
        payload: Buffer.concat(chunks).toString('latin1'),
      }),
    )
  }
}

const servers: TCPServer[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) await server.shutdownGracefully({ timeout: 1_000 })
})

async function serve(options: TCPServerOptions, Server: typeof TCPServer = EventLoopTCPServer) {
  const server = await Server.create({ host: '127.0.0.1', port: 0 }, Report, options)
  servers.push(server)
  server.handleRefusal = () => {} // refusals are what these tests provoke
  void server.serveForever({ pollInterval: 20 })
  return server
}

/** Sends `pieces` (a pause between them so each is its own segment), then FIN; returns the reply. */
async function exchange(
  server: TCPServer,
  pieces: (Buffer | string)[],
  localAddress = '127.0.0.1',
): Promise<string> {
  const socket = net.connect({
    port: server.serverAddress.port,
    host: '127.0.0.1',
    localAddress,
    noDelay: true,
  })
  socket.on('error', () => {})
  const closed = once(socket, 'close') // may come before the last piece is sent: a refusal
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  await once(socket, 'connect')
  for (const [i, piece] of pieces.entries()) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 2))
    if (!socket.destroyed) socket.write(piece)
  }
  socket.end()
  await closed
  return Buffer.concat(chunks).toString('latin1')
}

function refusals(): { events: { stage: string; error: { code: string; reason?: string } }[]; stop(): void } {
  const events: { stage: string; error: { code: string; reason?: string } }[] = []
  const listener = (message: unknown) => events.push(message as (typeof events)[number])
  diagnostics.subscribe('socketserver:connection:refused', listener)
  return { events, stop: () => diagnostics.unsubscribe('socketserver:connection:refused', listener) }
}

describe('proxyProtocol on a TCP server', () => {
  it('each good header, with the payload in the same chunk: the handler sees the original client and every payload byte', async () => {
    const server = await serve({ proxyProtocol: true })
    for (const good of GOOD) {
      const reply = JSON.parse(
        await exchange(server, [Buffer.concat([good.bytes, Buffer.from('hello\r\n')])]),
      )
      expect(reply.payload, good.name).toBe('hello\r\n')
      expect(reply.command, good.name).toBe(good.command)
      expect(reply.proxyAddress.address, good.name).toBe('127.0.0.1')
      expect(reply.client.address, good.name).toBe(good.client?.address ?? '127.0.0.1')
      if (good.client) expect(reply.client.port, good.name).toBe(good.client.port)
    }
  })

  it('a header split at every byte boundary (one segment per piece) gives the same result', async () => {
    const server = await serve({ proxyProtocol: true })
    const header = GOOD.find((g) => g.name.startsWith('v2 INET with TLVs'))!.bytes
    for (let cut = 1; cut < header.length; cut += 3) {
      const reply = JSON.parse(await exchange(server, [header.subarray(0, cut), header.subarray(cut), 'x']))
      expect([reply.client.address, reply.authority, reply.payload]).toEqual([
        '203.0.113.7',
        'chat.example',
        'x',
      ])
    }
  })

  it('the malformed corpus: each a typed refusal, published, counted, and no handler runs', async () => {
    const server = await serve({ proxyProtocol: true })
    const before = Report.handled
    const seen = refusals()
    try {
      for (const bad of BAD)
        expect(await exchange(server, [Buffer.concat([bad.bytes, Buffer.from('leak?')])]), bad.name).toBe('')
    } finally {
      seen.stop()
    }
    expect(Report.handled).toBe(before)
    expect(seen.events.map((e) => [e.stage, e.error.code, e.error.reason])).toEqual(
      BAD.map((bad) => ['proxy', bad.code, bad.reason]),
    )
    expect(server.refusedConnections.get('SOCKSRV_PROXY_CHECKSUM')).toBe(2)
  })

  it('a header cut at every byte then closed is refused as truncated, no handler run', async () => {
    const server = await serve({ proxyProtocol: true })
    const before = Report.handled
    const header = GOOD[0]!.bytes
    for (let cut = 0; cut < header.length; cut++)
      expect(await exchange(server, [header.subarray(0, cut)])).toBe('')
    expect(Report.handled).toBe(before)
    expect(server.refusedConnections.get('SOCKSRV_PROXY_HEADER')).toBe(header.length)
  })

  it('no header within headerTimeout: SOCKSRV_PROXY_TIMEOUT', async () => {
    const server = await serve({ proxyProtocol: { headerTimeout: 100 } })
    const socket = net.connect(server.serverAddress.port, '127.0.0.1')
    socket.on('error', () => {})
    socket.write('PROXY TCP4 ')
    await once(socket, 'close')
    expect(server.refusedConnections.get('SOCKSRV_PROXY_TIMEOUT')).toBe(1)
  })

  it('trustedProxies: others are refused before any read, or served as direct', async () => {
    const refusing = await serve({ proxyProtocol: { trustedProxies: ['127.0.0.2/32'] } })
    const header = GOOD[0]!.bytes
    expect(await exchange(refusing, [header, 'x'])).toBe('')
    expect(refusing.refusedConnections.get('SOCKSRV_PROXY_UNTRUSTED')).toBe(1)
    expect(JSON.parse(await exchange(refusing, [header, 'x'], '127.0.0.2')).client.address).toBe(
      '203.0.113.7',
    )

    const direct = await serve({ proxyProtocol: { trustedProxies: ['127.0.0.2'], untrusted: 'direct' } })
    const reply = JSON.parse(await exchange(direct, [header, 'x']))
    // Served as it came: its real address, its "header" just bytes, no proxy info.
    expect([reply.client.address, reply.payload, reply.command]).toEqual([
      '127.0.0.1',
      `${header}x`,
      undefined,
    ])
  })

  it('versions: a server taking v2 only refuses v1', async () => {
    const server = await serve({ proxyProtocol: { versions: [2] } })
    expect(await exchange(server, [GOOD[0]!.bytes])).toBe('')
    expect(JSON.parse(await exchange(server, [GOOD[4]!.bytes, 'y'])).payload).toBe('y')
  })

  it('access control and per-address limits use the original client', async () => {
    const server = await serve({
      proxyProtocol: true,
      accessControl: new AccessControl({ deny: ['203.0.113.0/24'] }),
    })
    const denied = encodeProxyHeader({
      version: 2,
      source: { address: '203.0.113.9', port: 1 },
      destination: { address: '127.0.0.1', port: 2 },
    })
    const allowed = encodeProxyHeader({
      version: 1,
      source: { address: '198.51.100.1', port: 1 },
      destination: { address: '127.0.0.1', port: 2 },
    })
    expect(await exchange(server, [denied, 'x'])).toBe('')
    expect(JSON.parse(await exchange(server, [allowed, 'x'])).client.address).toBe('198.51.100.1')
    expect(server.accessControl?.refused.denied).toBe(1)
  })

  it('a header followed at once by FIN: the handler still sees the end of the stream', async () => {
    const server = await serve({ proxyProtocol: true })
    expect(JSON.parse(await exchange(server, [GOOD[0]!.bytes])).payload).toBe('')
  })

  it('the sequential TCPServer reads headers too', async () => {
    const server = await serve({ proxyProtocol: true }, TCPServer)
    expect(JSON.parse(await exchange(server, [GOOD[1]!.bytes, 'seq'])).client).toEqual({
      address: '2001:db8::7',
      port: 65535,
      family: 'IPv6',
    })
  })

  it('a bad option is an InvalidArgumentError', () => {
    expect(
      () =>
        new TCPServer({ host: '127.0.0.1', port: 0 }, Report, {
          proxyProtocol: { trustedProxies: ['nope'] },
          bindAndActivate: false,
        }),
    ).toThrow(InvalidArgumentError)
  })
})
