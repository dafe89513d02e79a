import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import net from 'node:net'
import { BaseRequestHandler, type InetAddress, InvalidArgumentError } from '@socketserver/core'
import type { ConnectionStage } from '@socketserver/core/transport'
import { EventLoopTCPServer, type TCPServer } from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it, vi } from 'vitest'

// A stage that reads one line "NAME <name>\n" before the request is queued: the name replaces the
// client's address; anything else refuses the connection. What the client sends after the line
// reaches the handler untouched.
const named: ConnectionStage<net.Socket, InetAddress> = {
  name: 'named',
  admit(socket, address) {
    return new Promise((resolve, reject) => {
      // 'readable' and read(), not 'data': once the listeners go, the socket is as it was accepted.
      let seen = Buffer.alloc(0)
      const onReadable = () => {
        for (let chunk: Buffer | null; (chunk = socket.read()) !== null; ) seen = Buffer.concat([seen, chunk])
        const end = seen.indexOf(10)
        if (end < 0) return
        socket.off('readable', onReadable)
        socket.off('close', onClose)
        const line = seen.subarray(0, end).toString()
        if (end + 1 < seen.length) socket.unshift(seen.subarray(end + 1))
        if (!line.startsWith('NAME ')) reject(new InvalidArgumentError(`no name: ${line}`))
        else resolve([socket, { ...address, address: line.slice(5) }])
      }
      const onClose = () => reject(new Error('closed before its name'))
      socket.on('readable', onReadable)
      socket.once('close', onClose)
    })
  },
}

// The same protocol, answering through the server's `later` callback instead of a promise (how the
// PROXY stage answers): `admit` returns undefined, then `admitted` or `refused` once.
const namedLater: ConnectionStage<net.Socket, InetAddress> = {
  name: 'named-later',
  admit(socket, address, later) {
    let seen = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk])
      const end = seen.indexOf(10)
      if (end < 0) return
      socket.off('data', onData)
      socket.off('close', onClose)
      ;(socket as { readableFlowing: boolean | null }).readableFlowing = null
      const line = seen.subarray(0, end).toString()
      if (end + 1 < seen.length) socket.unshift(seen.subarray(end + 1))
      if (!line.startsWith('NAME '))
        later.refused(socket, address, new InvalidArgumentError(`no name: ${line}`))
      else later.admitted(socket, socket, { ...address, address: line.slice(5) })
    }
    const onClose = () => later.refused(socket, address, new Error('closed before its name'))
    socket.on('data', onData)
    socket.once('close', onClose)
    return undefined
  },
}

class Greet extends BaseRequestHandler<net.Socket, InetAddress> {
  override async handle() {
    const [rest] = (await once(this.request, 'data')) as [Buffer]
    this.request.end(`hello ${this.clientAddress.address}: ${rest}`)
  }
}

class NamedServer extends EventLoopTCPServer {
  protected override connectionStages() {
    return [named]
  }
}

const servers: TCPServer[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) await server.shutdownGracefully({ timeout: 1_000 })
})

async function exchange(server: TCPServer, send: string): Promise<string> {
  const socket = net.connect(server.serverAddress.port, '127.0.0.1')
  socket.on('error', () => {})
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.write(send)
  await once(socket, 'close')
  return Buffer.concat(chunks).toString()
}

/** Connects, sends the start of a name line that never ends, then shuts the server down; resolves once the client is closed. */
async function shutdownWithOneInStage(server: TCPServer): Promise<void> {
  const socket = net.connect(server.serverAddress.port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write('NAME (never ends')
  await new Promise((resolve) => setTimeout(resolve, 50))
  const closed = once(socket, 'close')
  await server.shutdownGracefully({ timeout: 1_000 })
  await closed
}

describe('connection stages', () => {
  it('run before the request is queued; their address and the bytes after them reach the handler', async () => {
    const server = await NamedServer.create({ host: '127.0.0.1', port: 0 }, Greet)
    servers.push(server)
    void server.serveForever({ pollInterval: 20 })
    expect(await exchange(server, 'NAME ada\nrest of it')).toBe('hello ada: rest of it')
  })

  it('a refusal closes the connection unhandled: counted, published, logged at a bounded rate', async () => {
    const handled = vi.fn()
    class Counting extends Greet {
      override async handle() {
        handled()
        await super.handle()
      }
    }
    const server = await NamedServer.create({ host: '127.0.0.1', port: 0 }, Counting)
    servers.push(server)
    const logged: unknown[] = []
    server.handleRefusal = (_request, _address, error) => void logged.push(error)
    const published: { stage: string; error: { code: string } }[] = []
    const onRefused = (message: unknown) => published.push(message as (typeof published)[number])
    diagnostics.subscribe('socketserver:connection:refused', onRefused)
    try {
      void server.serveForever({ pollInterval: 20 })
      expect(await exchange(server, 'HELLO\n')).toBe('')
      expect(await exchange(server, 'NAME bob\nx')).toBe('hello bob: x')
    } finally {
      diagnostics.unsubscribe('socketserver:connection:refused', onRefused)
    }
    expect(handled).toHaveBeenCalledTimes(1)
    expect(server.refusedConnections.get('SOCKSRV_INVALID_ARGUMENT')).toBe(1)
    expect(published.map((m) => [m.stage, m.error.code])).toEqual([['named', 'SOCKSRV_INVALID_ARGUMENT']])
    expect(logged).toHaveLength(1)
  })

  it('a stage may answer later through the server callback: admitted, refused, or closed with the server', async () => {
    class LaterServer extends EventLoopTCPServer {
      protected override connectionStages() {
        return [namedLater]
      }
    }
    const server = await LaterServer.create({ host: '127.0.0.1', port: 0 }, Greet)
    servers.push(server)
    server.handleRefusal = () => {}
    void server.serveForever({ pollInterval: 20 })
    expect(await exchange(server, 'NAME ada\nrest of it')).toBe('hello ada: rest of it')
    expect(await exchange(server, 'HELLO\n')).toBe('')
    expect(server.refusedConnections.get('SOCKSRV_INVALID_ARGUMENT')).toBe(1)
    // One still inside the stage is closed by shutdown, not counted as refused.
    await shutdownWithOneInStage(server)
    expect([...server.refusedConnections]).toEqual([['SOCKSRV_INVALID_ARGUMENT', 1]])
  })

  it('the default handleRefusal prints one line a second, then says how many it left out', async () => {
    const server = new NamedServer({ host: '127.0.0.1', port: 0 }, Greet, { bindAndActivate: false })
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      const address = { address: '127.0.0.9', port: 1, family: 'IPv4' as const }
      for (let i = 0; i < 50; i++) server.handleRefusal(undefined as never, address, new Error('bad'))
      expect(write).toHaveBeenCalledTimes(1)
      vi.advanceTimersByTime(1_001)
      server.handleRefusal(undefined as never, address, new Error('bad'))
      expect(write).toHaveBeenCalledTimes(2)
      expect(String(write.mock.calls[1]?.[0])).toMatch(/127\.0\.0\.9.*bad.*49 more/)
    } finally {
      vi.useRealTimers()
      write.mockRestore()
      await server.serverClose()
    }
  })

  it('serverClose() closes connections still inside a stage, without counting them as refused', async () => {
    const server = await NamedServer.create({ host: '127.0.0.1', port: 0 }, Greet)
    void server.serveForever({ pollInterval: 20 })
    await shutdownWithOneInStage(server)
    expect(server.refusedConnections.size).toBe(0)
  })
})
