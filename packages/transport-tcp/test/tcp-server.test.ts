import { execFileSync } from 'node:child_process'
import diagnostics from 'node:diagnostics_channel'
import type net from 'node:net'
import {
  connectStream,
  receiveAll,
  receiveLine,
  type StreamClient,
  streamIO,
  waitFor,
} from '@socketserver/compliance-tests'
import { BaseRequestHandler } from '@socketserver/core'
import {
  EventLoopTCPServer,
  type InetAddress,
  reusePortSupport,
  TCPServer,
  type TCPServerOptions,
} from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'

type Handler = BaseRequestHandler<net.Socket, InetAddress, TCPServer>

const servers: TCPServer[] = []
const clients: StreamClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()))
  for (const server of servers.splice(0)) {
    server.blockOnClose = false
    await server.shutdown()
    await server.serverClose()
    server.abortRequests()
  }
})

type ServerClass<T extends TCPServer> = new (...args: ConstructorParameters<typeof TCPServer>) => T

async function make<T extends TCPServer>(
  Server: ServerClass<T>,
  address: ConstructorParameters<typeof TCPServer>[0],
  Handler: new (request: net.Socket, clientAddress: InetAddress, server: any) => Handler,
  options?: TCPServerOptions,
): Promise<T> {
  const server = (await (Server as unknown as typeof TCPServer).create(address, Handler, options)) as T
  servers.push(server)
  return server
}

async function connect(server: TCPServer): Promise<StreamClient> {
  const client = await connectStream({ host: server.serverAddress.address, port: server.serverAddress.port })
  clients.push(client)
  return client
}

class Echo extends BaseRequestHandler<net.Socket, InetAddress, TCPServer> {
  override async handle() {
    await streamIO.write(this, await streamIO.read(this))
  }
}

describe('addresses', () => {
  it('resolves port 0 to the real bound port, which clients reach', async () => {
    const seen: InetAddress[] = []
    class Recording extends Echo {
      override async handle() {
        seen.push(this.clientAddress)
        await super.handle()
      }
    }
    const server = await make(TCPServer, { host: '127.0.0.1', port: 0 }, Recording)
    const bound = server.socket!.address() as net.AddressInfo
    expect(server.serverAddress).toEqual({ address: '127.0.0.1', port: bound.port, family: 'IPv4' })
    expect(server.serverAddress.port).toBeGreaterThan(0)
    expect(server.addressFamily).toBe('IPv4')
    const client = await connect(server)
    await client.send('ping\n')
    await server.handleRequest()
    expect((await receiveLine(client)).toString()).toBe('ping\n')
    expect(seen).toEqual([{ address: '127.0.0.1', port: client.socket.localPort, family: 'IPv4' }])
  })

  it('serves IPv6 on ::1, also written [::1], with IPv6 client addresses', async () => {
    const seen: InetAddress[] = []
    class Recording extends Echo {
      override async handle() {
        seen.push(this.clientAddress)
        await super.handle()
      }
    }
    for (const host of ['::1', '[::1]']) {
      const server = await make(EventLoopTCPServer, { host, port: 0 }, Recording)
      expect(server.serverAddress).toMatchObject({ address: '::1', family: 'IPv6' })
      expect(server.addressFamily).toBe('IPv6')
      const client = await connect(server)
      await client.send('six\n')
      await server.handleRequest()
      expect((await receiveLine(client)).toString()).toBe('six\n')
    }
    expect(seen.map((a) => [a.address, a.family])).toEqual([
      ['::1', 'IPv6'],
      ['::1', 'IPv6'],
    ])
  })

  it("accepts Python's (host, port) tuple and { address, port }", async () => {
    const tuple = await make(TCPServer, ['127.0.0.1', 0], Echo)
    expect(tuple.serverAddress).toMatchObject({ address: '127.0.0.1', family: 'IPv4' })
    expect(tuple.serverAddress.port).toBeGreaterThan(0)
    const object = await make(TCPServer, { address: '::1', port: 0 }, Echo)
    expect(object.serverAddress).toMatchObject({ address: '::1', family: 'IPv6' })
  })

  it.each([
    [{ host: '127.0.0.1', port: -1 }],
    [{ host: '127.0.0.1', port: 65_536 }],
    [{ host: '127.0.0.1', port: 1.5 }],
    [{ host: '127.0.0.1', port: '80' }],
    [{ host: 127, port: 0 }],
    [{ port: 0 }],
    [['127.0.0.1']],
    ['127.0.0.1:0'],
    [null],
  ])('refuses %j with InvalidArgumentError, before opening anything', async (address) => {
    expect(() => new TCPServer(address as never, Echo)).toThrow(
      expect.objectContaining({ name: 'InvalidArgumentError', code: 'SOCKSRV_INVALID_ARGUMENT' }),
    )
    await expect(TCPServer.create(address as never, Echo)).rejects.toMatchObject({
      code: 'SOCKSRV_INVALID_ARGUMENT',
    })
  })

  it('rejects a port in use with BindError carrying errno EADDRINUSE', async () => {
    const holder = await make(TCPServer, { host: '127.0.0.1', port: 0 }, Echo)
    const error = await TCPServer.create({ host: '127.0.0.1', port: holder.serverAddress.port }, Echo).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toMatchObject({
      name: 'BindError',
      code: 'SOCKSRV_BIND_FAILED',
      errno: 'EADDRINUSE',
      address: { address: '127.0.0.1', port: holder.serverAddress.port, family: 'IPv4' },
    })
    expect((error as Error).cause).toMatchObject({ code: 'EADDRINUSE' })
    expect((error as Error).message).toContain(`127.0.0.1:${holder.serverAddress.port}`)
  })
})

describe('socket options', () => {
  const reusePort = reusePortSupport()

  it.runIf(!reusePort.supported)('refuses allowReusePort where Node cannot set SO_REUSEPORT', async () => {
    await expect(
      TCPServer.create({ host: '127.0.0.1', port: 0 }, Echo, { allowReusePort: true }),
    ).rejects.toMatchObject({ name: 'ReusePortUnsupportedError', code: 'SOCKSRV_REUSE_PORT_UNSUPPORTED' })
    expect(reusePort.detail).toContain(process.versions.node)
  })

  it.runIf(reusePort.supported)('lets two servers with allowReusePort share a port', async () => {
    const first = await make(EventLoopTCPServer, { host: '127.0.0.1', port: 0 }, Echo, {
      allowReusePort: true,
    })
    const port = first.serverAddress.port
    const second = await make(EventLoopTCPServer, { host: '127.0.0.1', port }, Echo, { allowReusePort: true })
    expect(second.serverAddress.port).toBe(port)
    expect(first.socket!.listening && second.socket!.listening).toBe(true)
    // Without the option the port stays taken.
    await expect(TCPServer.create({ host: '127.0.0.1', port }, Echo)).rejects.toMatchObject({
      errno: 'EADDRINUSE',
    })
  })

  const hasSs = (() => {
    try {
      execFileSync('ss', ['-V'], { stdio: 'ignore' })
      return true
    } catch {
      return false
    }
  })()

  // For a listening socket, `ss` reports the listen backlog in the Send-Q column.
  it.skipIf(!hasSs)('passes requestQueueSize to the kernel as the listen backlog', async () => {
    const backlog = (server: TCPServer) => {
      const line = execFileSync('ss', ['-ltnH', `sport = :${server.serverAddress.port}`])
        .toString()
        .trim()
      return Number(line.split(/\s+/)[2])
    }
    const byDefault = await make(TCPServer, { host: '127.0.0.1', port: 0 }, Echo)
    expect(byDefault.requestQueueSize).toBe(511) // Node's default, not Python's 5: see ADR 4
    expect(backlog(byDefault)).toBe(511)
    const larger = await make(TCPServer, { host: '127.0.0.1', port: 0 }, Echo, { requestQueueSize: 37 })
    expect(backlog(larger)).toBe(37)
  })
})

describe('closing requests', () => {
  it('half-closes: the client reads every byte written, then end of stream', async () => {
    const payload = Buffer.alloc(4 * 1024 * 1024, 'x')
    class Big extends BaseRequestHandler<net.Socket, InetAddress, TCPServer> {
      override async handle() {
        await streamIO.read(this)
        this.request.write(payload) // not awaited: shutdownRequest must flush it before closing
        this.request.write('end\n')
      }
    }
    for (const Server of [TCPServer, EventLoopTCPServer]) {
      const server = await make(Server, { host: '127.0.0.1', port: 0 }, Big)
      const loop = server.serveForever({ pollInterval: 10 })
      const client = await connect(server)
      let ended = false
      client.socket.once('end', () => (ended = true))
      await client.send('go\n')
      const received = await receiveAll(client)
      expect(received.length).toBe(payload.length + 4)
      expect(received.subarray(-4).toString()).toBe('end\n')
      expect(ended).toBe(true)
      expect(client.error).toBeUndefined()
      await server.shutdown()
      await loop
    }
  })

  it('answers a client that half-closed after sending its request', async () => {
    class UntilEof extends BaseRequestHandler<net.Socket, InetAddress, TCPServer> {
      override async handle() {
        const chunks: Buffer[] = []
        // Plain `for await` would destroy the socket at end of stream, before the reply.
        for await (const chunk of this.request.iterator({ destroyOnReturn: false }))
          chunks.push(chunk as Buffer)
        await streamIO.write(this, Buffer.from(`got ${Buffer.concat(chunks).length} bytes\n`))
      }
    }
    const server = await make(EventLoopTCPServer, { host: '127.0.0.1', port: 0 }, UntilEof)
    const loop = server.serveForever({ pollInterval: 10 })
    const client = await connect(server)
    await client.send('hello world')
    await client.end()
    expect((await receiveAll(client)).toString()).toBe('got 11 bytes\n')
    await server.shutdown()
    await loop
  })

  it('takes closeTimeout from the options (regression: the field default overwrote it)', () => {
    const options = { bindAndActivate: false }
    expect(new TCPServer({ host: '127.0.0.1', port: 0 }, Echo, options).closeTimeout).toBe(30_000)
    expect(
      new TCPServer({ host: '127.0.0.1', port: 0 }, Echo, { ...options, closeTimeout: 50 }).closeTimeout,
    ).toBe(50)
    const eventLoop = new EventLoopTCPServer({ host: '127.0.0.1', port: 0 }, Echo, {
      ...options,
      closeTimeout: 7,
    })
    expect(eventLoop.closeTimeout).toBe(7)
  })

  it('gives up on a peer that never reads after closeTimeout, destroying the socket', async () => {
    let request: net.Socket | undefined
    class Flood extends BaseRequestHandler<net.Socket, InetAddress, TCPServer> {
      override handle() {
        request = this.request
        this.request.write(Buffer.alloc(32 * 1024 * 1024)) // far more than both socket buffers hold
      }
    }
    const server = await make(TCPServer, { host: '127.0.0.1', port: 0 }, Flood, { closeTimeout: 50 })
    const client = await connect(server)
    client.socket.pause() // never reads
    await server.handleRequest()
    expect(request!.destroyed).toBe(false) // still trying to flush
    await waitFor(() => request!.destroyed, { what: 'the stuck socket to be destroyed' })
    client.socket.resume()
    // What was still queued when the timeout struck never reached the client.
    expect((await receiveAll(client)).length).toBeLessThan(32 * 1024 * 1024)
  })

  it.each([
    ['TCPServer', TCPServer],
    ['EventLoopTCPServer', EventLoopTCPServer],
  ] as const)(
    'closes the connection unhandled when verifyRequest returns false (%s)',
    async (_name, Server) => {
      let handled = 0
      class Counting extends Echo {
        override async handle() {
          handled++
          await super.handle()
        }
      }
      class Refusing extends (Server as typeof TCPServer) {
        override verifyRequest(_request: net.Socket, clientAddress: InetAddress) {
          return clientAddress.port % 2 === 1 // refuse even client ports
        }
      }
      const server = await make(Refusing, { host: '127.0.0.1', port: 0 }, Counting)
      const loop = server.serveForever({ pollInterval: 10 })
      let refused = 0
      let served = 0
      for (let i = 0; i < 6; i++) {
        const client = await connect(server)
        await client.send('hi\n')
        const reply = await receiveAll(client)
        if (client.socket.localPort! % 2 === 0) {
          expect(reply.length).toBe(0)
          refused++
        } else {
          expect(reply.toString()).toBe('hi\n')
          served++
        }
      }
      expect(handled).toBe(served)
      expect(refused + served).toBe(6)
      await server.shutdown()
      await loop
    },
  )

  it('cuts short, on shutdownGracefully, a handler waiting for a client that never ends', async () => {
    class Forever extends BaseRequestHandler<net.Socket, InetAddress, TCPServer> {
      override async handle() {
        for await (const _ of this.request) {
          // read until end of stream, which this client never sends
        }
      }
    }
    class Quiet extends EventLoopTCPServer {
      errors: unknown[] = []
      override handleError(_request: net.Socket, _clientAddress: InetAddress, error: unknown) {
        this.errors.push(error)
      }
    }
    const server = await make(Quiet, { host: '127.0.0.1', port: 0 }, Forever)
    const loop = server.serveForever({ pollInterval: 10 })
    const client = await connect(server)
    await client.send('still here')
    await waitFor(() => server.activeRequestCount === 1, { what: 'the handler to start' })
    await expect(server.shutdownGracefully({ timeout: 20 })).resolves.toEqual({ aborted: 1 })
    await loop
    expect((await receiveAll(client)).length).toBe(0)
    expect(server.activeRequestCount).toBe(0)
    expect(server.socket!.listening).toBe(false)
    // The cut-short read surfaces in the handler, which reports it like any other error.
    expect(server.errors).toEqual([expect.objectContaining({ code: 'ERR_STREAM_PREMATURE_CLOSE' })])
  })
})

describe('load shedding', () => {
  it('closes connections past maxQueuedRequests at once, publishing each as dropped', async () => {
    const dropped: Array<{ reason: unknown }> = []
    const onDropped = (message: unknown) => dropped.push(message as { reason: unknown })
    diagnostics.subscribe('socketserver:request:dropped', onDropped)
    try {
      let release!: () => void
      const released = new Promise<void>((resolve) => (release = resolve))
      class Blocking extends Echo {
        override async handle() {
          await released
          await super.handle()
        }
      }
      const server = await make(TCPServer, { host: '127.0.0.1', port: 0 }, Blocking, { maxQueuedRequests: 1 })
      const loop = server.serveForever({ pollInterval: 10 })
      const first = await connect(server)
      await waitFor(() => server.activeRequestCount === 1, { what: 'the first handler to start' })
      const second = await connect(server)
      await waitFor(() => server.queuedRequestCount === 1, { what: 'the second request to be queued' })
      const shed = [await connect(server), await connect(server)]
      for (const client of shed) expect((await receiveAll(client)).length).toBe(0)
      expect(dropped.map((m) => (m.reason as { code?: string }).code)).toEqual([
        'SOCKSRV_QUEUE_FULL',
        'SOCKSRV_QUEUE_FULL',
      ])
      release()
      for (const client of [first, second]) {
        await client.send('kept\n')
        expect((await receiveLine(client)).toString()).toBe('kept\n')
      }
      await server.shutdown()
      await loop
    } finally {
      diagnostics.unsubscribe('socketserver:request:dropped', onDropped)
    }
  })
})

describe('misbehaving clients', () => {
  it.each([
    ['TCPServer', TCPServer],
    ['EventLoopTCPServer', EventLoopTCPServer],
  ] as const)('survives clients that reset mid-request or mid-reply (%s)', async (_name, Server) => {
    const ends: string[] = []
    class Careful extends BaseRequestHandler<net.Socket, InetAddress, TCPServer> {
      override async handle() {
        const line = await streamIO.read(this)
        if (line.toString() === 'big\n') {
          // A reply far larger than the socket buffers: the client resets while it is being written.
          for (let i = 0; i < 64; i++) await streamIO.write(this, Buffer.alloc(1024 * 1024))
        }
        ends.push(`read ${JSON.stringify(line.toString())}`)
        await streamIO.write(this, line)
      }
    }
    class Quiet extends (Server as typeof TCPServer) {
      errors: unknown[] = []
      override handleError(_request: net.Socket, _clientAddress: InetAddress, error: unknown) {
        this.errors.push(error)
      }
    }
    const server = await make(Quiet, { host: '127.0.0.1', port: 0 }, Careful)
    const loop = server.serveForever({ pollInterval: 10 })

    const partial = await connect(server)
    await partial.send('no newline yet')
    partial.socket.resetAndDestroy()
    await waitFor(() => server.errors.length === 1, { what: 'the failed reply to reach handleError' })
    expect(ends).toEqual(['read "no newline yet"'])

    const reader = await connect(server)
    await reader.send('big\n')
    await reader.receive() // the reply has started
    reader.socket.resetAndDestroy()
    await waitFor(() => server.errors.length === 2, { what: 'the cut reply to reach handleError' })

    const healthy = await connect(server)
    await healthy.send('still serving\n')
    expect((await receiveLine(healthy)).toString()).toBe('still serving\n')
    await server.shutdown()
    await loop
    await waitFor(() => server.activeRequestCount === 0, { what: 'every request to end' })
  })
})

describe('options are checked at construction', () => {
  it('rejects a misspelt name, an option named like a method and a wrongly typed value, binding nothing', async () => {
    const address = { host: '127.0.0.1', port: 0 }
    for (const [options, message] of [
      [{ requestQueueSise: 5 }, /has no option 'requestQueueSise'/],
      [{ serveForever: 42 }, /has no option 'serveForever'/],
      [{ timeout: 'soon' }, /option 'timeout' of EventLoopTCPServer must be a duration in ms/],
      [{ closeTimeout: -1 }, /option 'closeTimeout' of EventLoopTCPServer must be a duration in ms/],
    ] as const) {
      await expect(
        EventLoopTCPServer.create(address, BaseRequestHandler, options as object),
      ).rejects.toMatchObject({
        code: 'SOCKSRV_INVALID_ARGUMENT',
        message: expect.stringMatching(message),
      })
    }
  })
})
