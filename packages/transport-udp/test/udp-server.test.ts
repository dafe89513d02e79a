import { execFile } from 'node:child_process'
import diagnostics from 'node:diagnostics_channel'
import { readdirSync } from 'node:fs'
import { promisify } from 'node:util'
import {
  BaseRequestHandler,
  BindError,
  type InetAddress,
  InvalidArgumentError,
  QueueFullError,
  ReusePortUnsupportedError,
  reusePortSupport,
} from '@socketserver/core'
import { DatagramRequestHandler } from '@socketserver/stream-handlers'
import { EventLoopUDPServer, type UDPRequest, UDPServer } from '@socketserver/transport-udp'
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, Gate, track, UdpClient, waitFor } from './helpers.js'

afterEach(cleanup)

type Seen = { packet: Buffer; socket: unknown; clientAddress: InetAddress }

/** Records each request and echoes the packet back through the request's socket. */
function recordingEcho(seen: Seen[], gate?: Gate) {
  return class Echo extends BaseRequestHandler<UDPRequest, InetAddress> {
    override async handle() {
      const [packet, socket] = this.request
      seen.push({ packet, socket, clientAddress: this.clientAddress })
      if (gate) await gate.promise
      await new Promise<void>((resolve, reject) =>
        socket.send(packet, this.clientAddress.port, this.clientAddress.address, (e) =>
          e ? reject(e) : resolve(),
        ),
      )
    }
  }
}

const families = [
  ['IPv4', '127.0.0.1'],
  ['IPv6', '::1'],
] as const

describe.each(families)('UDPServer over %s', (family, host) => {
  it.each([
    ['UDPServer', UDPServer],
    ['EventLoopUDPServer', EventLoopUDPServer],
  ] as const)(
    '%s binds port 0, hands [packet, socket] and the sender address, and replies come from the bound address',
    async (_, Server) => {
      const seen: Seen[] = []
      const server = track(await Server.create({ host, port: 0 }, recordingEcho(seen)))
      expect(server.serverAddress.address).toBe(host)
      expect(server.serverAddress.family).toBe(family)
      expect(server.serverAddress.port).toBeGreaterThan(0)
      expect(server.socket!.address().port).toBe(server.serverAddress.port)
      expect(server.socketType).toBe('dgram')
      expect(server.addressFamily).toBe(family)
      void server.serveForever({ pollInterval: 50 })

      const client = await UdpClient.open(family)
      await client.send('ping', server.serverAddress.port)
      const reply = await client.next()
      expect(reply.data.toString()).toBe('ping')
      expect(reply.from.port).toBe(server.serverAddress.port)
      expect(reply.from.address).toBe(host)
      expect(seen).toHaveLength(1)
      expect(seen[0]!.packet.toString()).toBe('ping')
      expect(seen[0]!.socket).toBe(server.socket)
      expect(seen[0]!.clientAddress).toEqual({ address: host, port: client.port, family })
    },
  )

  it('a Python client gets its datagram echoed', async () => {
    const server = track(await EventLoopUDPServer.create({ host, port: 0 }, recordingEcho([])))
    void server.serveForever({ pollInterval: 50 })
    const script = `
import socket, sys
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b'from python', (sys.argv[1], int(sys.argv[2])))
data, addr = s.recvfrom(100)
print(data.decode(), addr[1])
`
    const { stdout } = await promisify(execFile)(
      'python3',
      ['-c', script, host, String(server.serverAddress.port)],
      {
        timeout: 10_000,
      },
    )
    expect(stdout.trim()).toBe(`from python ${server.serverAddress.port}`)
  })
})

describe('UDPServer concurrency', () => {
  it('UDPServer handles one datagram at a time; the next waits in the queue', async () => {
    const seen: Seen[] = []
    const gate = new Gate()
    const server = track(await UDPServer.create({ host: '127.0.0.1', port: 0 }, recordingEcho(seen, gate)))
    void server.serveForever({ pollInterval: 50 })
    const client = await UdpClient.open()
    await client.send('one', server.serverAddress.port)
    await client.send('two', server.serverAddress.port)
    await waitFor(
      () => seen.length === 1 && server.queuedRequestCount === 1,
      'one in the handler, one queued',
    )
    expect(server.activeRequestCount).toBe(1)
    gate.open()
    const replies = [await client.next(), await client.next()]
    expect(replies.map((r) => r.data.toString())).toEqual(['one', 'two'])
  })

  it('EventLoopUDPServer handles datagrams at once', async () => {
    const seen: Seen[] = []
    const gate = new Gate()
    const server = track(
      await EventLoopUDPServer.create({ host: '127.0.0.1', port: 0 }, recordingEcho(seen, gate)),
    )
    void server.serveForever({ pollInterval: 50 })
    const client = await UdpClient.open()
    for (const word of ['a', 'b', 'c']) await client.send(word, server.serverAddress.port)
    await waitFor(() => seen.length === 3, 'three handlers running')
    expect(server.activeRequestCount).toBe(3)
    gate.open()
    const replies = [await client.next(), await client.next(), await client.next()]
    expect(replies.map((r) => r.data.toString()).sort()).toEqual(['a', 'b', 'c'])
  })

  it('maxQueuedRequests bounds what waits: the rest is dropped and published with QueueFullError', async () => {
    const seen: Seen[] = []
    const gate = new Gate()
    const server = track(
      await UDPServer.create({ host: '127.0.0.1', port: 0 }, recordingEcho(seen, gate), {
        maxQueuedRequests: 2,
      }),
    )
    const dropped: unknown[] = []
    const onDropped = (message: unknown) => {
      if ((message as { server: unknown }).server === server)
        dropped.push((message as { reason: unknown }).reason)
    }
    diagnostics.subscribe('socketserver:request:dropped', onDropped)
    try {
      void server.serveForever({ pollInterval: 50 })
      const client = await UdpClient.open()
      await client.send('first', server.serverAddress.port)
      await waitFor(() => seen.length === 1, 'the first in its handler')
      for (let i = 0; i < 4; i++) await client.send(`q${i}`, server.serverAddress.port)
      await waitFor(() => dropped.length === 2, 'two datagrams dropped')
      expect(server.queuedRequestCount).toBe(2)
      expect(dropped.every((reason) => reason instanceof QueueFullError)).toBe(true)
      gate.open()
      const replies = [await client.next(), await client.next(), await client.next()]
      expect(replies.map((r) => r.data.toString())).toEqual(['first', 'q0', 'q1'])
    } finally {
      diagnostics.unsubscribe('socketserver:request:dropped', onDropped)
    }
  })
})

describe('maxPacketSize', () => {
  it('defaults to 8192 like Python, and a subclass field or the option sets it', async () => {
    const Handler = recordingEcho([])
    expect(
      new UDPServer({ host: '127.0.0.1', port: 0 }, Handler, { bindAndActivate: false }).maxPacketSize,
    ).toBe(8192)
    expect(
      new UDPServer({ host: '127.0.0.1', port: 0 }, Handler, { bindAndActivate: false, maxPacketSize: 100 })
        .maxPacketSize,
    ).toBe(100)
    class Small extends UDPServer {
      override maxPacketSize = 7
    }
    expect(new Small({ host: '127.0.0.1', port: 0 }, Handler, { bindAndActivate: false }).maxPacketSize).toBe(
      7,
    )
  })

  it('truncates a longer datagram to maxPacketSize (as Python), counts it and publishes it', async () => {
    const seen: Seen[] = []
    const server = track(
      await EventLoopUDPServer.create({ host: '127.0.0.1', port: 0 }, recordingEcho(seen), {
        maxPacketSize: 10,
      }),
    )
    const events: Array<Record<string, unknown>> = []
    const onOversized = (message: unknown) => events.push(message as Record<string, unknown>)
    diagnostics.subscribe('socketserver:packet:oversized', onOversized)
    try {
      void server.serveForever({ pollInterval: 50 })
      const client = await UdpClient.open()
      await client.send('0123456789abcdef', server.serverAddress.port)
      expect((await client.next()).data.toString()).toBe('0123456789')
      await client.send('0123456789', server.serverAddress.port) // exactly the limit: whole, not counted
      expect((await client.next()).data.toString()).toBe('0123456789')
      expect(server.oversizedPacketCount).toBe(1)
      expect(events).toHaveLength(1)
      expect(events[0]).toMatchObject({ server, size: 16, limit: 10, action: 'truncate' })
      expect(events[0]!.clientAddress).toEqual({ address: '127.0.0.1', port: client.port, family: 'IPv4' })
    } finally {
      diagnostics.unsubscribe('socketserver:packet:oversized', onOversized)
    }
  })

  it("with oversizedPackets 'drop', a longer datagram is counted and never handled", async () => {
    const seen: Seen[] = []
    const server = track(
      await EventLoopUDPServer.create({ host: '127.0.0.1', port: 0 }, recordingEcho(seen), {
        maxPacketSize: 10,
        oversizedPackets: 'drop',
      }),
    )
    void server.serveForever({ pollInterval: 50 })
    const client = await UdpClient.open()
    await client.send('far too long for ten', server.serverAddress.port)
    await waitFor(() => server.oversizedPacketCount === 1, 'the oversized datagram counted')
    await client.send('short', server.serverAddress.port)
    expect((await client.next()).data.toString()).toBe('short')
    expect(seen.map((s) => s.packet.toString())).toEqual(['short'])
    expect(client.received).toHaveLength(1)
  })

  it('the largest UDP datagram arrives whole when maxPacketSize allows it', async () => {
    const seen: Seen[] = []
    const server = track(
      await EventLoopUDPServer.create({ host: '127.0.0.1', port: 0 }, recordingEcho(seen), {
        maxPacketSize: 65_507,
      }),
    )
    void server.serveForever({ pollInterval: 50 })
    const client = await UdpClient.open()
    const big = Buffer.alloc(65_507, 0x61)
    await client.send(big, server.serverAddress.port)
    expect((await client.next()).data.equals(big)).toBe(true)
    expect(server.oversizedPacketCount).toBe(0)
  })

  it.each([[{ maxPacketSize: 0 }], [{ maxPacketSize: 1.5 }], [{ oversizedPackets: 'split' }]])(
    'refuses %j with InvalidArgumentError',
    (options) => {
      expect(
        () => new UDPServer({ host: '127.0.0.1', port: 0 }, BaseRequestHandler, options as never),
      ).toThrow(InvalidArgumentError)
    },
  )
})

describe('binding', () => {
  it.each([
    [{ host: '127.0.0.1', port: 70_000 }],
    [{ host: '127.0.0.1', port: -1 }],
    [{ port: 1 }],
    [['127.0.0.1']],
  ])('refuses the address %j with InvalidArgumentError', (address) => {
    expect(() => new UDPServer(address as never, BaseRequestHandler)).toThrow(InvalidArgumentError)
  })

  it('takes [host, port] like Python', async () => {
    const server = track(await UDPServer.create(['127.0.0.1', 0], BaseRequestHandler))
    expect(server.serverAddress.port).toBeGreaterThan(0)
  })

  it('a taken port rejects create() with BindError EADDRINUSE and leaks no descriptor', async () => {
    const first = track(await UDPServer.create({ host: '127.0.0.1', port: 0 }, BaseRequestHandler))
    const address = { host: '127.0.0.1', port: first.serverAddress.port }
    const error = await UDPServer.create(address, BaseRequestHandler).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BindError)
    expect((error as BindError).errno).toBe('EADDRINUSE')
    expect((error as BindError).code).toBe('SOCKSRV_BIND_FAILED')
    const fds = () => readdirSync('/proc/self/fd').length
    const before = fds()
    for (let i = 0; i < 200; i++) await UDPServer.create(address, BaseRequestHandler).catch(() => {})
    expect(fds()).toBeLessThanOrEqual(before)
  })

  it('allowReuseAddress lets a second server bind the same port (SO_REUSEADDR)', async () => {
    const first = track(
      await UDPServer.create({ host: '127.0.0.1', port: 0 }, BaseRequestHandler, { allowReuseAddress: true }),
    )
    const second = track(
      await UDPServer.create({ host: '127.0.0.1', port: first.serverAddress.port }, BaseRequestHandler, {
        allowReuseAddress: true,
      }),
    )
    expect(second.serverAddress.port).toBe(first.serverAddress.port)
  })

  it('allowReusePort binds several servers on one port where the runtime can, and refuses with a typed error where not', async () => {
    const { supported } = reusePortSupport()
    const first = UDPServer.create({ host: '127.0.0.1', port: 0 }, BaseRequestHandler, {
      allowReusePort: true,
    })
    if (!supported) {
      const error = await first.catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ReusePortUnsupportedError)
      expect((error as ReusePortUnsupportedError).code).toBe('SOCKSRV_REUSE_PORT_UNSUPPORTED')
      return
    }
    const a = track(await first)
    const b = track(
      await UDPServer.create({ host: '127.0.0.1', port: a.serverAddress.port }, BaseRequestHandler, {
        allowReusePort: true,
      }),
    )
    expect(b.serverAddress.port).toBe(a.serverAddress.port)
  })
})

describe('errors and closing', () => {
  it('an error on the socket is reported, not thrown, and the server keeps serving', async () => {
    const seen: Seen[] = []
    const server = track(await EventLoopUDPServer.create({ host: '127.0.0.1', port: 0 }, recordingEcho(seen)))
    const errors: Error[] = []
    const onError = (message: unknown) => {
      if ((message as { server: unknown }).server === server) errors.push((message as { error: Error }).error)
    }
    diagnostics.subscribe('socketserver:server:error', onError)
    try {
      void server.serveForever({ pollInterval: 50 })
      // A name that cannot resolve (RFC 6761 reserves .invalid): with no callback, dgram emits 'error'.
      server.socket!.send('x', 9, 'nowhere.invalid')
      await waitFor(() => errors.length === 1, 'the send error reported')
      expect((errors[0] as NodeJS.ErrnoException).code).toMatch(/^(ENOTFOUND|EAI_AGAIN|EAI_FAIL)$/)
      const client = await UdpClient.open()
      await client.send('still here', server.serverAddress.port)
      expect((await client.next()).data.toString()).toBe('still here')
    } finally {
      diagnostics.unsubscribe('socketserver:server:error', onError)
    }
  })

  it('a handler that throws goes to handleError and the next datagram is served', async () => {
    const failures: unknown[] = []
    class Picky extends BaseRequestHandler<UDPRequest, InetAddress> {
      override handle() {
        const [packet, socket] = this.request
        if (packet.toString() === 'bad') throw new Error('bad packet')
        socket.send(packet, this.clientAddress.port, this.clientAddress.address)
      }
    }
    class Server extends UDPServer {
      override handleError(_request: UDPRequest, _client: InetAddress, error: unknown) {
        failures.push(error)
      }
    }
    const server = track(await Server.create({ host: '127.0.0.1', port: 0 }, Picky))
    void server.serveForever({ pollInterval: 50 })
    const client = await UdpClient.open()
    await client.send('bad', server.serverAddress.port)
    await client.send('good', server.serverAddress.port)
    expect((await client.next()).data.toString()).toBe('good')
    expect(failures).toHaveLength(1)
    expect((failures[0] as Error).message).toBe('bad packet')
  })

  it('serverClose() stops taking datagrams at once but keeps the socket until handlers in flight replied', async () => {
    const seen: Seen[] = []
    const gate = new Gate()
    const server = track(
      await EventLoopUDPServer.create({ host: '127.0.0.1', port: 0 }, recordingEcho(seen, gate)),
    )
    void server.serveForever({ pollInterval: 50 })
    const client = await UdpClient.open()
    await client.send('in flight', server.serverAddress.port)
    await waitFor(() => seen.length === 1, 'the handler running')
    let closed = false
    const closing = server.serverClose().then(() => (closed = true))
    await client.send('too late', server.serverAddress.port)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(closed).toBe(false)
    gate.open()
    expect((await client.next()).data.toString()).toBe('in flight')
    await closing
    expect(seen.map((s) => s.packet.toString())).toEqual(['in flight'])
    expect(() => server.socket!.address()).toThrow() // closed
  })

  it('shutdownGracefully() closes the socket after its timeout even if a handler never ends', async () => {
    const gate = new Gate()
    class Stuck extends BaseRequestHandler<UDPRequest, InetAddress> {
      override async handle() {
        await gate.promise
      }
    }
    const server = track(await EventLoopUDPServer.create({ host: '127.0.0.1', port: 0 }, Stuck))
    void server.serveForever({ pollInterval: 50 })
    const client = await UdpClient.open()
    await client.send('stuck', server.serverAddress.port)
    await waitFor(() => server.activeRequestCount === 1, 'the handler running')
    const { aborted } = await server.shutdownGracefully({ timeout: 100 })
    expect(aborted).toBe(1)
    expect(() => server.socket!.address()).toThrow()
    gate.open() // serverClose() (cleanup) waits for the handler with blockOnClose
  })
})

describe('with DatagramRequestHandler', () => {
  class Upper extends DatagramRequestHandler {
    override async handle() {
      for await (const line of this.rfile) await this.wfile.write(line.toString().toUpperCase())
    }
  }

  it.each([
    ['UDPServer', 'IPv4', '127.0.0.1', UDPServer],
    ['EventLoopUDPServer', 'IPv4', '127.0.0.1', EventLoopUDPServer],
    ['UDPServer', 'IPv6', '::1', UDPServer],
    ['EventLoopUDPServer', 'IPv6', '::1', EventLoopUDPServer],
  ] as const)(
    '%s over %s: the reply is one datagram from the server address',
    async (_, family, host, Server) => {
      const server = track(await Server.create({ host, port: 0 }, Upper))
      void server.serveForever({ pollInterval: 50 })
      const client = await UdpClient.open(family)
      await client.send('one\ntwo\n', server.serverAddress.port)
      await client.send('three', server.serverAddress.port)
      const replies = [await client.next(), await client.next()]
      expect(replies.map((r) => r.data.toString()).sort()).toEqual(['ONE\nTWO\n', 'THREE'])
      expect(replies.every((r) => r.from.port === server.serverAddress.port && r.from.address === host)).toBe(
        true,
      )
    },
  )
})

describe('DatagramRequestHandler replies: fire-and-forget or confirmed', () => {
  // A reply addressed to a name that cannot resolve (RFC 6761 .invalid) fails inside dgram.send().
  const misdirected = (confirm: boolean) =>
    class Misdirected extends DatagramRequestHandler<InetAddress> {
      override confirmReplies = confirm
      override setup() {
        super.setup()
        ;(this as { clientAddress: InetAddress }).clientAddress = {
          address: 'nowhere.invalid',
          port: 9,
          family: 'IPv4',
        }
      }
      override async handle() {
        await this.wfile.write(this.packet)
      }
    }

  it('confirmReplies: a failed send rejects into handleError, as Python sendto raises', async () => {
    const failures: unknown[] = []
    class Server extends EventLoopUDPServer {
      override handleError(_request: UDPRequest, _client: InetAddress, error: unknown) {
        failures.push(error)
      }
    }
    const server = track(await Server.create({ host: '127.0.0.1', port: 0 }, misdirected(true)))
    void server.serveForever({ pollInterval: 50 })
    const client = await UdpClient.open()
    await client.send('x', server.serverAddress.port)
    await waitFor(() => failures.length === 1, 'the send error in handleError')
    expect((failures[0] as NodeJS.ErrnoException).code).toMatch(/^(ENOTFOUND|EAI_AGAIN|EAI_FAIL)$/)
  })

  it('by default the reply is fire-and-forget: a failed send is reported by the server, not the handler', async () => {
    const failures: unknown[] = []
    const socketErrors: unknown[] = []
    const onError = ({ error }: { error: unknown }) => socketErrors.push(error)
    diagnostics.subscribe('socketserver:server:error', onError as (message: unknown) => void)
    try {
      class Server extends EventLoopUDPServer {
        override handleError(_request: UDPRequest, _client: InetAddress, error: unknown) {
          failures.push(error)
        }
      }
      const server = track(await Server.create({ host: '127.0.0.1', port: 0 }, misdirected(false)))
      void server.serveForever({ pollInterval: 50 })
      const client = await UdpClient.open()
      await client.send('x', server.serverAddress.port)
      await waitFor(() => socketErrors.length === 1, 'the send error on socketserver:server:error')
      expect(failures).toEqual([])
    } finally {
      diagnostics.unsubscribe('socketserver:server:error', onError as (message: unknown) => void)
    }
  })
})
