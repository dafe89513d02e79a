import type { ChildProcess } from 'node:child_process'
import diagnostics from 'node:diagnostics_channel'
import net from 'node:net'
import { settle, waitFor } from '@socketserver/compliance-tests'
import { ForkingMixIn } from '@socketserver/concurrency-fork'
import { channels, isHandlerWorker } from '@socketserver/core'
import { TCPServer } from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import {
  AnswerFirstLine,
  Controlled,
  Echo,
  Inspect,
  PidEcho,
  Printer,
  Thrower,
} from './fixtures/handlers.mjs'
import { expectNoChildren, handlerModule, isAlive, LineClient, psChildren } from './helpers.js'

class ForkingTCPServer extends ForkingMixIn(TCPServer) {
  errors: unknown[] = []
  override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
    this.errors.push(error)
  }
}

const servers = new Set<ForkingTCPServer>()
const clients = new Set<LineClient>()

async function serve(Handler: unknown, options: Record<string, unknown> = {}): Promise<ForkingTCPServer> {
  const server = await ForkingTCPServer.create({ host: '127.0.0.1', port: 0 }, Handler as typeof Echo, {
    handlerModule,
    processes: 2,
    ...options,
  })
  servers.add(server)
  void server.serveForever({ pollInterval: 20 })
  return server
}

async function connect(server: ForkingTCPServer): Promise<LineClient> {
  const client = await LineClient.connect({ host: '127.0.0.1', port: server.serverAddress.port })
  clients.add(client)
  return client
}

afterEach(async () => {
  for (const client of clients) client.close()
  clients.clear()
  for (const server of servers) {
    await server.shutdown()
    await server.serverClose()
  }
  servers.clear()
  await expectNoChildren()
})

describe('ForkingMixIn(TCPServer), pool', () => {
  it('runs the handler in child processes, each serving many connections', async () => {
    const server = await serve(PidEcho)
    expect(server.activeChildren.size).toBe(2)
    expect(server.activeChildren.has(process.pid)).toBe(false)
    const pids = new Set<string>()
    for (let i = 0; i < 6; i++) {
      const client = await connect(server)
      client.send(`hello ${i}\nagain ${i}\n`)
      const [pid, text] = (await client.line())!.split(':')
      expect(text).toBe(`hello ${i}`)
      expect(await client.line()).toBe(`${pid}:again ${i}`)
      pids.add(pid!)
      client.socket.end()
      expect(await client.line()).toBeNull()
    }
    // Every request went to one of the pool's children, and the pool took turns.
    expect([...pids].map(Number).sort()).toEqual([...server.activeChildren].sort())
  })

  it('passes the connection with no byte lost, half-close included', async () => {
    const server = await serve(Echo)
    const client = await connect(server)
    // Sent before the child has the socket: the parent accepted it paused.
    const payload = 'x'.repeat(200_000)
    client.socket.end(`${payload}\n`)
    expect(await client.rest()).toBe(`${payload}\n`)
  })

  it('closes with unread input as the transport does (lingering close): the whole reply arrives, no RST', async () => {
    const server = await serve(AnswerFirstLine)
    const talk = () =>
      new Promise<{ received: number; error?: string }>((resolve) => {
        let received = 0
        const client = net.connect(server.serverAddress.port, '127.0.0.1', () => {
          client.write('question\n')
          const junk = Buffer.alloc(64 * 1024, 0x6a)
          for (let i = 0; i < 8; i++) client.write(junk) // 512 KiB the child never reads (within lingerBytes)
          client.end()
        })
        client.on('data', (data: Buffer) => {
          received += data.length
        })
        client.on('error', (error: NodeJS.ErrnoException) => resolve({ received, error: error.code }))
        client.on('close', () => resolve({ received }))
      })
    const results = await Promise.all(Array.from({ length: 10 }, talk))
    for (const result of results) expect(result).toEqual({ received: 256 * 1024 })
  })

  it('passes a handler error to handleError in the parent, with the message and the remote stack', async () => {
    const server = await serve(Thrower)
    const client = await connect(server)
    client.send('bad input\n')
    expect(await client.rest()).toBe('')
    await waitFor(() => server.errors.length === 1, { what: 'handleError' })
    const error = server.errors[0] as Error & { code: string; remoteName: string }
    expect(error.code).toBe('SOCKSRV_REMOTE_HANDLER_ERROR')
    expect(error.message).toBe('handler failed: bad input')
    expect(error.remoteName).toBe('TypeError')
    expect(error.stack).toContain('fixtures/handlers.mjs')
    expect(error.stack).toMatch(/in child process \d+/)
    // The server keeps serving.
    const next = await connect(server)
    next.send('again\n')
    expect(await next.rest()).toBe('')
    await waitFor(() => server.errors.length === 2, { what: 'the second error' })
  })

  it('closes the connections of a child killed with SIGKILL mid-request, reports it, replaces it, keeps serving', async () => {
    const server = await serve(Controlled)
    // Load: several connections in flight on both children.
    const inFlight = await Promise.all(Array.from({ length: 8 }, () => connect(server)))
    const pids = await Promise.all(inFlight.map(async (client) => Number(await client.line())))
    const victim = pids[0]!
    expect(server.activeChildren.has(victim)).toBe(true)
    const onVictim = inFlight.filter((_, i) => pids[i] === victim)
    const others = inFlight.filter((_, i) => pids[i] !== victim)
    process.kill(victim, 'SIGKILL')
    for (const client of onVictim) expect(await client.rest()).toBe('')
    await waitFor(() => server.errors.length === onVictim.length, {
      what: 'a WorkerExitedError per lost request',
    })
    for (const error of server.errors) {
      expect(error).toMatchObject({ code: 'SOCKSRV_WORKER_EXITED', signal: 'SIGKILL' })
    }
    await waitFor(() => server.activeChildren.size === 2 && !server.activeChildren.has(victim), {
      what: 'a replacement child',
    })
    // The other child's connections are untouched.
    for (const client of others) {
      client.send('still here\n')
      expect(await client.line()).toBe('still here')
    }
    const fresh = await connect(server)
    expect(Number(await fresh.line())).toBeGreaterThan(0)
    fresh.send('ping\n')
    expect(await fresh.line()).toBe('ping')
  })

  it("runs handleError before the child shuts the request down (Python's order)", async () => {
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    class Slow extends ForkingTCPServer {
      override async handleError(request: unknown, clientAddress: unknown, error: unknown) {
        super.handleError(request, clientAddress, error)
        await released
      }
    }
    const server = await Slow.create({ host: '127.0.0.1', port: 0 }, Thrower, { handlerModule, processes: 1 })
    servers.add(server)
    void server.serveForever({ pollInterval: 20 })
    const client = await connect(server)
    client.send('late shutdown\n')
    await waitFor(() => server.errors.length === 1, { what: 'handleError' })
    await settle(50)
    expect(client.ended).toBe(false)
    release()
    expect(await client.rest()).toBe('')
    expect(client.ended).toBe(true)
  })

  it('gives a child at most concurrencyPerChild requests at once; the others wait', async () => {
    const server = await serve(Controlled, { processes: 1, concurrencyPerChild: 1 })
    const first = await connect(server)
    const pid = await first.line()
    const second = await connect(server)
    let secondPid: string | null | undefined
    const served = second.line().then((line) => (secondPid = line))
    const third = await connect(server)
    await waitFor(() => server.queuedRequestCount === 1, { what: 'the third request to be queued' })
    await settle(50)
    expect(secondPid).toBeUndefined()
    expect(server.activeRequestCount).toBe(1)
    first.socket.end()
    await served
    expect(secondPid).toBe(pid)
    second.socket.end()
    expect(await third.line()).toBe(pid)
  })

  it('kills and replaces a child whose handler runs past handlerTimeout', async () => {
    const server = await serve(Controlled, { handlerTimeout: 300, processes: 1 })
    const client = await connect(server)
    const pid = Number(await client.line())
    client.send('hang\n')
    expect(await client.rest()).toBe('')
    await waitFor(() => server.errors.length === 1, { what: 'HandlerTimeoutError' })
    expect(server.errors[0]).toMatchObject({ code: 'SOCKSRV_HANDLER_TIMEOUT' })
    expect(isAlive(pid)).toBe(false)
    await waitFor(() => server.activeChildren.size === 1, { what: 'the replacement' })
    expect(server.activeChildren.has(pid)).toBe(false)
  })

  it('recycles a child after maxRequestsPerChild requests', async () => {
    const server = await serve(PidEcho, { processes: 1, maxRequestsPerChild: 2 })
    const seen: string[] = []
    for (let i = 0; i < 6; i++) {
      const client = await connect(server)
      client.send('x\n')
      seen.push((await client.line())!.split(':')[0]!)
      client.socket.end()
      await client.rest()
    }
    expect(seen[0]).toBe(seen[1])
    expect(seen[2]).toBe(seen[3])
    expect(seen[4]).toBe(seen[5])
    expect(new Set(seen).size).toBe(3)
  })

  it('serverClose waits for requests in flight (blockOnClose), then every child exits', async () => {
    const server = await serve(Controlled)
    const client = await connect(server)
    await client.line()
    const children = [...server.activeChildren]
    await server.shutdown()
    let closed = false
    const closing = server.serverClose().then(() => (closed = true))
    // The request is still served while the server closes.
    client.send('one more\n')
    expect(await client.line()).toBe('one more')
    expect(closed).toBe(false)
    client.socket.end()
    await closing
    for (const pid of children) expect(isAlive(pid)).toBe(false)
    expect(psChildren().filter((child) => children.includes(child.pid))).toEqual([])
  })

  it('with blockOnClose false, serverClose returns at once and children exit once their requests end', async () => {
    const server = await serve(Controlled, { blockOnClose: false })
    const client = await connect(server)
    const pid = Number(await client.line())
    await server.shutdown()
    await server.serverClose()
    expect(isAlive(pid)).toBe(true)
    client.send('late\n')
    expect(await client.line()).toBe('late')
    client.socket.end()
    await waitFor(() => !isAlive(pid), { what: 'the child to exit' })
  })

  it('lets a handler in a child stop the serve loop with this.server.shutdown()', async () => {
    const server = await ForkingTCPServer.create({ host: '127.0.0.1', port: 0 }, Controlled, {
      handlerModule,
      processes: 1,
    })
    servers.add(server)
    const loop = server.serveForever({ pollInterval: 20 })
    const client = await connect(server)
    await client.line()
    client.send('shutdown\n')
    expect(await client.line()).toBe('shutdown')
    await loop
  })

  it('gives children only the environment it was told to, plus the worker mark', async () => {
    process.env.FORK_TEST_SECRET = 'do not leak'
    try {
      const plain = await serve(Inspect, { processes: 1 })
      const client = await connect(plain)
      const seen = JSON.parse((await client.line())!)
      expect(seen.env.SOCKETSERVER_HANDLER_WORKER).toBe('1')
      expect(seen.env.FORK_TEST_SECRET).toBeUndefined()
      expect(seen.env.PATH).toBe(process.env.PATH)
      expect(seen.server).toEqual({ serverAddress: plain.serverAddress, socketType: 'stream' })
      expect(seen.clientAddress.port).toBe(client.socket.localPort)

      const chosen = await serve(Inspect, { processes: 1, env: { ONLY_THIS: 'yes' } })
      const other = await connect(chosen)
      const env = JSON.parse((await other.line())!).env
      expect(env.ONLY_THIS).toBe('yes')
      expect(env.PATH).toBeUndefined()
      expect(env.SOCKETSERVER_HANDLER_WORKER).toBe('1')
    } finally {
      delete process.env.FORK_TEST_SECRET
    }
    expect(isHandlerWorker()).toBe(false)
  })

  it("pipes the children's stdio when asked, reachable from the spawn event", async () => {
    const outputs: Array<Promise<string>> = []
    const listen = (message: unknown) => {
      const { event, detail } = message as { event: string; detail?: { process?: ChildProcess } }
      const stdout = detail?.process?.stdout
      if (event === 'spawn' && stdout) {
        stdout.setEncoding('utf8')
        outputs.push(
          new Promise((resolve) => {
            let text = ''
            stdout.on('data', (chunk: string) => {
              text += chunk
              if (text.includes('\n')) resolve(text)
            })
          }),
        )
      }
    }
    diagnostics.subscribe(channels.worker.name, listen)
    try {
      const server = await serve(Printer, { processes: 1, stdio: ['ignore', 'pipe', 'inherit'] })
      expect(outputs).toHaveLength(1)
      const [pid] = [...server.activeChildren]
      const client = await connect(server)
      client.send('hello parent\n')
      expect(await outputs[0]).toBe(`child ${pid} says hello parent\n`)
    } finally {
      diagnostics.unsubscribe(channels.worker.name, listen)
    }
  })

  it('checks its options at construction', () => {
    for (const [options, message] of [
      [{ forkMode: 'threads' }, /option 'forkMode' .* must be one of "pool", "per-request"; got "threads"/],
      [{ processes: 0 }, /option 'processes' .* must be an integer >= 1; got 0/],
      [{ handlerTimeout: 'long' }, /option 'handlerTimeout' .* must be a duration in ms/],
      [{ maxChildern: 3 }, /has no option 'maxChildern'/],
      [{ collectChildren: 1 }, /has no option 'collectChildren'/],
    ] as const) {
      expect(
        () =>
          new ForkingTCPServer({ host: '127.0.0.1', port: 0 }, PidEcho, {
            handlerModule,
            bindAndActivate: false,
            ...(options as object),
          }),
      ).toThrow(
        expect.objectContaining({
          code: 'SOCKSRV_INVALID_ARGUMENT',
          message: expect.stringMatching(message),
        }),
      )
    }
  })

  it('fails fast with HandlerModuleError on a wrong setup', async () => {
    await expect(ForkingTCPServer.create({ host: '127.0.0.1', port: 0 }, PidEcho, {})).rejects.toMatchObject({
      code: 'SOCKSRV_HANDLER_MODULE',
      message: expect.stringContaining('handlerModule: import.meta.url'),
    })
    class NotExported extends (PidEcho as new (...a: any[]) => object) {}
    await expect(
      ForkingTCPServer.create({ host: '127.0.0.1', port: 0 }, NotExported as typeof PidEcho, {
        handlerModule,
        processes: 1,
      }),
    ).rejects.toMatchObject({
      code: 'SOCKSRV_HANDLER_MODULE',
      message: expect.stringContaining('does not export the handler class NotExported'),
    })
    await expect(
      ForkingTCPServer.create({ host: '127.0.0.1', port: 0 }, PidEcho, {
        handlerModule: new URL('./fixtures/missing.mjs', import.meta.url).href,
        processes: 1,
      }),
    ).rejects.toMatchObject({
      code: 'SOCKSRV_HANDLER_MODULE',
      message: expect.stringContaining('missing.mjs'),
    })
  })

  it('shutdownGracefully cuts short the requests still running after its timeout, in the children', async () => {
    const server = await serve(Controlled)
    const waiting = await connect(server)
    await waiting.line()
    const result = await server.shutdownGracefully({ timeout: 200 })
    expect(result).toEqual({ aborted: 1 })
    expect(await waiting.rest()).toBe('')
    expect(server.activeChildren.size).toBe(0)
  })

  it('shutdownGracefully stops a child whose handler ignores the abort (a CPU loop)', async () => {
    const server = await serve(Controlled, { processes: 1 })
    const spinning = await connect(server)
    const pid = Number(await spinning.line())
    spinning.send('hang\n')
    await settle(20)
    const result = await server.shutdownGracefully({ timeout: 200 })
    expect(result).toEqual({ aborted: 1 })
    expect(await spinning.rest()).toBe('')
    await waitFor(() => !isAlive(pid), { what: 'the spinning child to be killed' })
  })

  it('publishes spawn, exit and replace on the worker channel', async () => {
    const events: string[] = []
    const listen = (message: unknown) => events.push((message as { event: string }).event)
    diagnostics.subscribe(channels.worker.name, listen)
    try {
      const server = await serve(Controlled, { processes: 1 })
      const client = await connect(server)
      const pid = Number(await client.line())
      process.kill(pid, 'SIGKILL')
      await waitFor(() => events.includes('replace') && events.filter((e) => e === 'spawn').length === 2, {
        what: 'the replacement events',
      })
      expect(events.slice(0, 4)).toEqual(['spawn', 'exit', 'replace', 'spawn'])
    } finally {
      diagnostics.unsubscribe(channels.worker.name, listen)
    }
  })
})
