import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import net from 'node:net'
import { type Connection, ConnectionHandler } from '@socketserver/stream-handlers'
import { EventLoopTCPServer, TCPServer } from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, exchange, serve, until, viaNc } from './helpers.js'

class Echo extends ConnectionHandler {
  override data(conn: Connection, chunk: Buffer): void {
    conn.write(chunk)
  }
}

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

async function started(Handler: typeof ConnectionHandler<any>, errors: unknown[] = []) {
  const served = await serve(Handler, errors)
  cleanups.push(() => served.close())
  return served
}

describe('ConnectionHandler', () => {
  it('echoes to nc, which sends, half-closes, and still gets the reply', async () => {
    const { port } = await started(Echo)
    expect(await viaNc(port, 'hello over nc\n')).toEqual({ code: 0, reply: 'hello over nc\n' })
  })

  it('serves 200 connections at once from one handler instance, each with its own data', async () => {
    const instances = new Set<ConnectionHandler>()
    class Counting extends ConnectionHandler<{ bytes: number }> {
      override open(conn: Connection<{ bytes: number }>): void {
        instances.add(this)
        conn.data = { bytes: 0 }
      }
      override data(conn: Connection<{ bytes: number }>, chunk: Buffer): void {
        conn.data!.bytes += chunk.length
      }
      override end(conn: Connection<{ bytes: number }>): void {
        conn.write(`${conn.data!.bytes}\n`)
        conn.end()
      }
    }
    const { port, server } = await started(Counting)
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => exchange(port, Buffer.alloc(i + 1, 'x'))),
    )
    expect(replies.map(String)).toEqual(Array.from({ length: 200 }, (_, i) => `${i + 1}\n`))
    expect(instances.size).toBe(1)
    await until(() => server.activeRequestCount === 0)
  })

  it('an error a method throws reaches handleError, closes that connection, and the server keeps serving', async () => {
    class Failing extends ConnectionHandler {
      override data(conn: Connection, chunk: Buffer): void {
        if (chunk.includes('boom')) throw new Error('handler failed')
        conn.write(chunk)
      }
    }
    const errors: unknown[] = []
    const { port, server } = await started(Failing, errors)
    expect((await exchange(port, 'boom')).length).toBe(0)
    // A client that half-closes only after the server closed: its FIN calls no end(), which would
    // close the socket a second time (and report 'write after end').
    const late = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    late.write('boom')
    late.resume()
    await once(late, 'end')
    late.end('more') // still sending as it half-closes: read and dropped by the server's lingering close
    await once(late, 'close')
    await until(() => server.activeRequestCount === 0)
    expect(errors).toHaveLength(2)
    expect((errors[1] as Error).message).toBe('handler failed')
    expect((errors[0] as Error).message).toBe('handler failed')
    expect(String(await exchange(port, 'fine'))).toBe('fine')
  })

  it("a client's reset reaches error() and then close(); the request ends", async () => {
    const seen: string[] = []
    class Watching extends ConnectionHandler {
      override error(_conn: Connection, error: Error): void {
        seen.push(`error ${(error as NodeJS.ErrnoException).code}`)
      }
      override close(): void {
        seen.push('close')
      }
    }
    const { port, server } = await started(Watching)
    const client = await connect(port)
    await until(() => server.activeRequestCount === 1)
    client.resetAndDestroy()
    await until(() => server.activeRequestCount === 0)
    expect(seen).toEqual(['error ECONNRESET', 'close'])
  })

  it('publishes request:start and request:end around the connection', async () => {
    const events: string[] = []
    const onStart = () => events.push('start')
    const onEnd = (message: unknown) =>
      events.push(`end ${typeof (message as { durationMs?: number }).durationMs}`)
    diagnostics.subscribe('socketserver:request:start', onStart)
    diagnostics.subscribe('socketserver:request:end', onEnd)
    try {
      const { port, server } = await started(Echo)
      await exchange(port, 'x')
      await until(() => server.activeRequestCount === 0)
      expect(events).toEqual(['start', 'end number'])
    } finally {
      diagnostics.unsubscribe('socketserver:request:start', onStart)
      diagnostics.unsubscribe('socketserver:request:end', onEnd)
    }
  })

  it('serverClose() waits for open connections; shutdownGracefully() cuts idle ones short', async () => {
    const server = await EventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, Echo)
    const loop = server.serveForever({ pollInterval: 50 })
    const clients = await Promise.all([1, 2, 3].map(() => connect(server.serverAddress.port)))
    await until(() => server.activeRequestCount === 3)
    let closed = false
    void server.serverClose().then(() => (closed = true))
    await new Promise((r) => setTimeout(r, 200))
    expect(closed).toBe(false) // blockOnClose: the idle connections are requests in progress
    const { aborted } = await server.shutdownGracefully({ timeout: 100 })
    expect(aborted).toBe(3)
    await loop
    expect(server.activeRequestCount).toBe(0)
    await Promise.all(clients.map((c) => (c.closed ? undefined : once(c, 'close'))))
  })

  it('maxConcurrentRequests holds further connections in the queue until one closes', async () => {
    const opened: number[] = []
    let n = 0
    class Opening extends ConnectionHandler {
      override open(): void {
        opened.push(++n)
      }
    }
    const server = await EventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, Opening, {
      maxConcurrentRequests: 1,
    })
    const loop = server.serveForever({ pollInterval: 50 })
    cleanups.push(async () => {
      await server.shutdownGracefully({ timeout: 500 })
      await loop
    })
    const first = await connect(server.serverAddress.port)
    await until(() => opened.length === 1)
    const second = await connect(server.serverAddress.port)
    await new Promise((r) => setTimeout(r, 200))
    expect(opened).toEqual([1])
    first.end()
    await until(() => opened.length === 2)
    second.destroy()
  })

  it('a one-at-a-time TCPServer serves the next connection once the first closes', async () => {
    const server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, Echo)
    const loop = server.serveForever({ pollInterval: 50 })
    cleanups.push(async () => {
      await server.shutdownGracefully({ timeout: 500 })
      await loop
    })
    const { port } = server.serverAddress
    const [a, b] = await Promise.all([exchange(port, 'first'), exchange(port, 'second')])
    expect([String(a), String(b)]).toEqual(['first', 'second'])
  })
})
