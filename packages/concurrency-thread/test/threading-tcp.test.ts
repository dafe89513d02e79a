import diagnostics from 'node:diagnostics_channel'
import net from 'node:net'
import { receiveAll, waitFor } from '@socketserver/compliance-tests'
import { type InetAddress, RemoteHandlerError, WorkerExitedError } from '@socketserver/core'
import { TCPServer } from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { canTransferSockets, ThreadingMixIn } from '../src/index.js'
import { ChunkEcho, Commands, Echo, NotThisOne, sha } from './fixtures/handlers.mjs'
import { ask, handlerModule, handlerPath, Resources } from './helpers.js'

class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {
  errors: Array<{ clientAddress: unknown; error: any }> = []
  override handleError(_request: unknown, clientAddress: unknown, error: unknown) {
    this.errors.push({ clientAddress, error })
  }
}

const r = new Resources()
afterEach(() => r.cleanup())

const host = '127.0.0.1'
async function start(Handler: any = Commands, options: Record<string, unknown> = {}) {
  const server = r.server(
    await ThreadingTCPServer.create({ host, port: 0 }, Handler, { handlerModule, threads: 2, ...options }),
  )
  const loop = server.serveForever({ pollInterval: 10 })
  return { server, loop }
}
const connect = (server: ThreadingTCPServer) => r.connect({ host, port: server.serverAddress.port })

describe('ThreadingMixIn(TCPServer): handlers in worker threads', () => {
  it('runs handlers in the pool threads, several connections per thread', async () => {
    const { server } = await start()
    expect(server.workerThreads).toHaveLength(2)
    expect(server.streamPath).toBe(canTransferSockets ? 'transfer' : 'proxy')
    const poolIds = new Set(server.workerThreads.map((w) => String(w.threadId)))
    const clients = await Promise.all(Array.from({ length: 6 }, () => connect(server)))
    const seen = await Promise.all(clients.map((client) => ask(client, 'thread')))
    for (const id of seen) expect(poolIds.has(id)).toBe(true)
    expect(new Set(seen).size).toBe(2) // least-loaded dispatch spreads them over both threads
    // All six connections are open at once in two threads: each thread serves several.
    for (const client of clients) expect(await ask(client, 'still here')).toBe('still here')
    expect(server.activeRequestCount).toBe(6)
  })

  it('gives the handler the peer address, the client address and a remote view of the server', async () => {
    const { server } = await start()
    const client = await connect(server)
    const peer = JSON.parse(await ask(client, 'peer'))
    expect(peer.remoteAddress).toBe('127.0.0.1')
    expect(peer.client).toEqual({ address: '127.0.0.1', port: peer.remotePort, family: 'IPv4' })
    expect(peer.remotePort).toBe(client.socket.localPort)
    const info = JSON.parse(await ask(client, 'server'))
    expect(info).toEqual({ serverAddress: server.serverAddress, socketType: 'stream', addressFamily: 'IPv4' })
  })

  it('streams 4 MiB both ways with backpressure, and replies after the client half-closes', async () => {
    const { server } = await start(ChunkEcho, { handlerExport: 'ChunkEcho' })
    const client = await connect(server)
    const payload = Buffer.alloc(4 * 1024 * 1024)
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff
    // The client does not read until it has written everything: the server must hold back.
    await client.send(payload)
    await client.end()
    const echoed = await receiveAll(client)
    expect(echoed.length).toBe(payload.length)
    expect(echoed.equals(payload)).toBe(true)
  })

  it.skipIf(canTransferSockets)(
    'proxy: holds a fast writer back, so the main thread buffers at most a window for a slow reader',
    async () => {
      const requests: net.Socket[] = []
      class Watching extends ThreadingTCPServer {
        override processRequest(request: any, clientAddress: any) {
          requests.push(request)
          return super.processRequest(request, clientAddress)
        }
      }
      const server = r.server(
        await Watching.create({ host, port: 0 }, Commands, { handlerModule, threads: 1 }),
      )
      void server.serveForever({ pollInterval: 10 })
      const client = await connect(server)
      client.socket.pause() // reads nothing until told
      const size = 64 * 1024 * 1024
      await client.send(`big ${size}\n`)
      let most = 0
      for (let i = 0; i < 50; i++) {
        most = Math.max(most, requests[0]?.writableLength ?? 0)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      expect(most).toBeGreaterThan(0) // the reply did back up in the main thread
      expect(most).toBeLessThanOrEqual(2 * 1024 * 1024) // a window, not the 64 MiB
      client.socket.resume()
      expect((await receiveAll(client)).length).toBe(size)
    },
  )

  it('passes a handler error to handleError in the main thread with its message and remote stack', async () => {
    const { server } = await start()
    const client = await connect(server)
    await client.send('throw kaboom\n')
    await waitFor(() => server.errors.length === 1, { what: 'handleError' })
    const { error, clientAddress } = server.errors[0]!
    expect(error).toBeInstanceOf(RemoteHandlerError)
    expect(error.code).toBe('SOCKSRV_REMOTE_HANDLER_ERROR')
    expect(error.message).toBe('kaboom')
    expect(error.remoteName).toBe('TypeError')
    expect(error.stack).toContain('handlers.mjs') // the stack of the worker, where it was thrown
    expect((clientAddress as InetAddress).port).toBe(client.socket.localPort)
    expect((await receiveAll(client)).length).toBe(0) // then the connection is shut down
    expect(await ask(await connect(server), 'still serving')).toBe('still serving')
  })

  it('calls handleError before the connection is shut down, as Python does', async () => {
    const events: string[] = []
    let client: Awaited<ReturnType<typeof connect>> | undefined
    class Ordered extends ThreadingTCPServer {
      override async handleError(request: unknown, clientAddress: unknown, error: unknown) {
        events.push('handleError')
        // The client has not seen the end of the stream yet: the connection is still open.
        await new Promise((resolve) => setTimeout(resolve, 50))
        events.push(client!.socket.readableEnded ? 'client saw end' : 'still open')
        super.handleError(request, clientAddress, error)
      }
      override shutdownRequest(request: any) {
        events.push('shutdownRequest')
        super.shutdownRequest(request)
      }
    }
    const server = r.server(await Ordered.create({ host, port: 0 }, Commands, { handlerModule, threads: 1 }))
    void server.serveForever({ pollInterval: 10 })
    client = await connect(server)
    await client.send('throw late\n')
    expect((await receiveAll(client)).length).toBe(0)
    await waitFor(() => events.length === 3, { what: 'handleError and shutdownRequest' })
    expect(events).toEqual(['handleError', 'still open', 'shutdownRequest'])
  })

  it('runs a blocking handler per thread with concurrencyPerThread 1; others wait in the queue', async () => {
    const { server } = await start(Commands, { concurrencyPerThread: 1 })
    const a = await connect(server)
    const b = await connect(server)
    await a.send('wait\n')
    await b.send('wait\n')
    expect((await a.receive()).toString()).toBe('waiting\n')
    expect((await b.receive()).toString()).toBe('waiting\n')
    // Both threads hold one request: a third connection waits in the queue, unhandled.
    const c = await connect(server)
    await c.send('thread\n')
    await waitFor(() => server.queuedRequestCount === 1, { what: 'the third request to queue' })
    // The loop waits for a free thread before it takes the next request.
    expect(server.activeRequestCount).toBe(2)
    await a.send('go\n')
    expect((await a.receive()).toString()).toBe('released\n')
    await a.close()
    expect(Number((await c.receive()).toString())).toBeGreaterThan(0)
    await b.send('go\n')
    expect((await b.receive()).toString()).toBe('released\n')
  })

  it('closes connections past maxQueuedRequests at once with QueueFullError when every thread is busy', async () => {
    const { server } = await start(Commands, { threads: 1, concurrencyPerThread: 1, maxQueuedRequests: 2 })
    const dropped: unknown[] = []
    const onDrop = (message: any) => message.server === server && dropped.push(message.reason)
    diagnostics.subscribe('socketserver:request:dropped', onDrop)
    try {
      const busy = await connect(server)
      await busy.send('wait\n')
      expect((await busy.receive()).toString()).toBe('waiting\n')
      // The loop waits for the thread: two connections fill the queue, the rest are closed.
      const others = await Promise.all(Array.from({ length: 6 }, () => connect(server)))
      await waitFor(() => dropped.length === 4, { what: 'four dropped connections' })
      expect(dropped.every((reason: any) => reason.code === 'SOCKSRV_QUEUE_FULL')).toBe(true)
      const ended = await Promise.all(
        others
          .map(async (client) => {
            client.send('hello\n').catch(() => {})
            return (await receiveAll(client)).toString()
          })
          .slice(2),
      )
      expect(ended).toEqual(['', '', '', ''])
      await busy.send('go\n')
      expect((await busy.receive()).toString()).toBe('released\n')
      await busy.close()
      for (const client of others.slice(0, 2)) {
        await client.end()
        expect((await receiveAll(client)).toString()).toBe('hello\n')
      }
    } finally {
      diagnostics.unsubscribe('socketserver:request:dropped', onDrop)
    }
  })

  it('lets a handler stop serveForever with this.server.shutdown()', async () => {
    const { server, loop } = await start()
    const client = await connect(server)
    expect(await ask(client, 'shutdown')).toBe('stopped')
    await loop
    expect(server.closed).toBe(false)
  })

  it('loads a handler exported under another name with handlerExport', async () => {
    const { server } = await start(Echo, { handlerExport: 'RenamedHandler' })
    expect(await ask(await connect(server), 'renamed')).toBe('renamed')
  })
})

describe('ThreadingMixIn(TCPServer): its options are checked at construction', () => {
  it.each([
    [{ threads: 'many' }, /option 'threads' .* must be an integer >= 1 or Infinity; got "many"/],
    [{ threads: 0 }, /option 'threads' .* must be an integer >= 1/],
    [{ threads: Number.POSITIVE_INFINITY }, /threads must be finite for a pool/],
    [{ daemonThreads: 'yes' }, /option 'daemonThreads' .* must be true or false/],
    [{ threadCount: 2 }, /has no option 'threadCount'/],
  ])('%o', (options, message) => {
    expect(
      () =>
        new ThreadingTCPServer({ host, port: 0 }, Echo, {
          handlerModule,
          bindAndActivate: false,
          ...(options as object),
        }),
    ).toThrow(
      expect.objectContaining({ code: 'SOCKSRV_INVALID_ARGUMENT', message: expect.stringMatching(message) }),
    )
  })
})

describe('ThreadingMixIn(TCPServer): wrong setups fail fast with HandlerModuleError', () => {
  const bind = (Handler: any, options: Record<string, unknown>) =>
    ThreadingTCPServer.create({ host, port: 0 }, Handler, { threads: 1, ...options })

  it('without handlerModule, before binding anything', async () => {
    const error = await bind(Commands, {}).catch((e) => e)
    expect(error.code).toBe('SOCKSRV_HANDLER_MODULE')
    expect(error.message).toContain('handlerModule: import.meta.url')
    expect(error.message).toContain('isHandlerWorker()')
  })

  it('when the module does not export the class', async () => {
    class Local extends NotThisOne {}
    const error = await bind(Local, { handlerModule }).catch((e) => e)
    expect(error.code).toBe('SOCKSRV_HANDLER_MODULE')
    expect(error.message).toContain('does not export the handler class Local')
  })

  it('when the module cannot be imported, also given as a path', async () => {
    const error = await bind(Commands, { handlerModule: `${handlerPath}.missing.mjs` }).catch((e) => e)
    expect(error.code).toBe('SOCKSRV_HANDLER_MODULE')
    expect(error.message).toContain('could not import handlerModule')
    const ok = r.server(await bind(Commands, { handlerModule: handlerPath }))
    expect(ok.workerThreads).toHaveLength(1)
  })

  it('when handlerExport names nothing', async () => {
    const error = await bind(Commands, { handlerModule, handlerExport: 'Nope' }).catch((e) => e)
    expect(error.code).toBe('SOCKSRV_HANDLER_MODULE')
    expect(error.message).toContain('"Nope"')
  })
})

describe('ThreadingMixIn(TCPServer): workers that die', () => {
  for (const [how, command, reply] of [
    ['throws outside the handler', 'crash', 'crashing'],
    ['calls process.exit()', 'exit', 'exiting'],
  ] as const) {
    it(`closes the connections of a worker that ${how}, reports WorkerExitedError and replaces it`, async () => {
      const { server } = await start(Commands, { threads: 1 })
      const [first] = server.workerThreads
      const bystander = await connect(server)
      expect(await ask(bystander, 'wait')).toBe('waiting') // another request on the same thread
      const victim = await connect(server)
      expect(await ask(victim, command)).toBe(reply)
      // Both connections of the dead thread end; neither is left hanging.
      expect((await receiveAll(victim)).toString()).toBe('')
      expect((await receiveAll(bystander)).toString()).toBe('')
      await waitFor(() => server.errors.length === 2, { what: 'two WorkerExitedError reports' })
      for (const { error } of server.errors) {
        expect(error).toBeInstanceOf(WorkerExitedError)
        expect(error.code).toBe('SOCKSRV_WORKER_EXITED')
      }
      await waitFor(() => server.workerThreads.length === 1 && server.workerThreads[0] !== first, {
        what: 'a replacement thread',
      })
      const again = await connect(server)
      expect(await ask(again, 'served again')).toBe('served again')
      await again.close()
      await waitFor(() => server.activeRequestCount === 0, { what: 'every request to end' })
    })
  }

  it('handles a worker terminated from outside mid-request the same way', async () => {
    const { server } = await start(Commands, { threads: 2 })
    const client = await connect(server)
    const id = Number(await ask(client, 'thread'))
    const victim = server.workerThreads.find((w) => w.threadId === id)!
    await victim.terminate()
    expect((await receiveAll(client)).toString()).toBe('')
    await waitFor(() => server.errors.length === 1, { what: 'the report' })
    expect(server.errors[0]!.error.message).toContain(`worker thread ${id} exited`)
    await waitFor(() => server.workerThreads.length === 2, { what: 'the replacement' })
  })

  it('stops a worker at its resourceLimits heap size and carries on', async () => {
    const { server } = await start(Commands, {
      threads: 1,
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 },
    })
    const client = await connect(server)
    expect(await ask(client, 'oom')).toBe('allocating')
    expect((await receiveAll(client)).toString()).toBe('')
    await waitFor(() => server.errors.length === 1, { what: 'the report', timeout: 15_000 })
    expect(server.errors[0]!.error).toBeInstanceOf(WorkerExitedError)
    expect((server.errors[0]!.error.cause as any)?.code).toBe('ERR_WORKER_OUT_OF_MEMORY')
    await waitFor(() => server.workerThreads.length === 1, { what: 'the replacement' })
    expect(await ask(await connect(server), 'alive')).toBe('alive')
  })

  it('terminates, after abortGrace, a worker whose handler ignores shutdownGracefully', async () => {
    const { server } = await start(Commands, { threads: 1, abortGrace: 50 })
    const client = await connect(server)
    await client.send('spin 60000\n')
    await waitFor(() => server.activeRequestCount === 1, { what: 'the spinning handler' })
    const worker = server.workerThreads[0]!
    const { aborted } = await server.shutdownGracefully({ timeout: 50 })
    expect(aborted).toBe(1)
    await waitFor(() => worker.threadId === -1, { what: 'the spinning thread to be terminated' })
    await server.serverClose()
    expect(server.workerThreads).toHaveLength(0)
    expect(server.errors[0]?.error).toBeInstanceOf(WorkerExitedError)
  })
})

describe('ThreadingMixIn(TCPServer): closing', () => {
  it('refuses 1000 connections after serverClose() began while in-flight handlers finish; no thread remains', async () => {
    const { server, loop } = await start(Commands, { threads: 2 })
    const workers = [...server.workerThreads]
    const inFlight = await Promise.all(Array.from({ length: 4 }, () => connect(server)))
    for (const client of inFlight) expect(await ask(client, 'wait')).toBe('waiting')
    await server.shutdown()
    await loop
    let closed = false
    const closing = server.serverClose().then(() => (closed = true))
    const port = server.serverAddress.port
    const results = { refused: 0, other: [] as string[] }
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from(
          { length: 100 },
          () =>
            new Promise<void>((resolve) => {
              const socket = net.connect({ host, port })
              socket.once('connect', () => {
                results.other.push('connected')
                socket.destroy()
                resolve()
              })
              socket.once('error', (error: NodeJS.ErrnoException) => {
                if (error.code === 'ECONNREFUSED') results.refused++
                else results.other.push(String(error.code))
                resolve()
              })
            }),
        ),
      )
    }
    expect(results).toEqual({ refused: 1000, other: [] })
    expect(closed).toBe(false)
    expect(server.activeRequestCount).toBe(4)
    for (const client of inFlight) {
      await client.send('go\n')
      expect((await client.receive()).toString()).toBe('released\n')
      await client.end()
    }
    await closing
    expect(server.activeRequestCount).toBe(0)
    expect(server.workerThreads).toHaveLength(0)
    expect(workers.map((worker) => worker.threadId)).toEqual([-1, -1])
  })

  it('lets a large reply reach a slow reader before serverClose() stops the threads', async () => {
    const { server, loop } = await start(Commands, { threads: 1 })
    const [worker] = server.workerThreads
    const client = await connect(server)
    const size = 32 * 1024 * 1024 // more than the kernel buffers of both ends hold
    await client.send(`big ${size}\n`)
    await waitFor(() => server.activeRequestCount === 1, { what: 'the request' })
    await server.shutdown()
    await loop
    const closing = server.serverClose()
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect((await receiveAll(client)).length).toBe(size)
    await closing
    expect(worker!.threadId).toBe(-1)
  })

  it('does not wait for handlers with daemonThreads, and the threads stop once they are done', async () => {
    const { server, loop } = await start(Commands, { threads: 1, daemonThreads: true })
    const [worker] = server.workerThreads
    const client = await connect(server)
    expect(await ask(client, 'wait')).toBe('waiting')
    await server.shutdown()
    await loop
    await server.serverClose() // resolves with the handler still running
    expect(worker!.threadId).not.toBe(-1)
    await client.send('go\n')
    expect((await client.receive()).toString()).toBe('released\n')
    await client.end()
    await waitFor(() => worker!.threadId === -1, { what: 'the daemon thread to stop' })
  })
})

describe('ThreadingMixIn(TCPServer) with threadPerRequest (Python: a thread per request)', () => {
  it('starts a new thread for each request and ends it with the request', async () => {
    const { server } = await start(Commands, { threadPerRequest: true, threads: undefined })
    expect(server.threads).toBe(Number.POSITIVE_INFINITY)
    const ids = new Set<string>()
    const clients = await Promise.all(Array.from({ length: 3 }, () => connect(server)))
    for (const client of clients) ids.add(await ask(client, 'thread'))
    expect(ids.size).toBe(3)
    expect(server.workerThreads).toHaveLength(3)
    for (const client of clients) await client.end()
    await waitFor(() => server.workerThreads.length === 0, { what: 'the threads to end' })
    const again = await connect(server)
    expect(ids.has(await ask(again, 'thread'))).toBe(false)
  })

  it('delivers all of a large reply to a slow reader before the request thread ends', async () => {
    const { server } = await start(Commands, { threadPerRequest: true, threads: undefined })
    const client = await connect(server)
    const size = 32 * 1024 * 1024 // more than the kernel buffers of both ends hold
    await client.send(`big ${size}\n`)
    await waitFor(() => server.workerThreads.length === 1, { what: 'the request thread' })
    // The client reads nothing for a while: the reply waits in socket buffers when the handler returns.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect((await receiveAll(client)).length).toBe(size)
  })

  it('runs CPU-bound handlers on separate threads at once', async () => {
    const { server } = await start(Commands, { threadPerRequest: true, threads: 4 })
    const clients = await Promise.all(Array.from({ length: 2 }, () => connect(server)))
    const answers = await Promise.all(clients.map((client) => ask(client, 'hash 2000')))
    expect(answers).toEqual([sha(2000), sha(2000)])
  })
})
