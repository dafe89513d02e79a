// The CPython test_socketserver scenarios that apply to ThreadingMixIn, against every transport,
// with the handlers in a module the worker threads import (see compliance.test.ts for why the
// shared suite itself cannot run here).
import diagnostics from 'node:diagnostics_channel'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import {
  connectDatagram,
  connectStream,
  openFileDescriptorCount,
  waitFor,
} from '@socketserver/compliance-tests'
import { type BaseServer, RemoteHandlerError } from '@socketserver/core'
import { TCPServer } from '@socketserver/transport-tcp'
import { UDPServer } from '@socketserver/transport-udp'
import { UnixDatagramServer, UnixDatagramSocket, UnixStreamServer } from '@socketserver/transport-unix'
import { afterEach, describe, expect, it } from 'vitest'
import { ThreadingMixIn, type ThreadingServer } from '../src/index.js'
import {
  Commands,
  DatagramEcho,
  DatagramSteps,
  Steps,
  UnixDatagramEcho,
  UnixDatagramSteps,
} from './fixtures/handlers.mjs'
import { handlerModule } from './helpers.js'

type Server = BaseServer<any, any, any> & ThreadingServer & { errors: unknown[] }

/** A client speaking the test protocol: `ask(text)` resolves with `[threadId, reply text]`. */
interface Client {
  ask(text: string): Promise<[string, string]>
  /** Sends without waiting for the reply. */
  send(text: string): Promise<void>
  reply(): Promise<[string, string]>
  /** Stream only: sends one line as is. */
  line?(text: string): Promise<void>
  /** Stream only: the next line received. */
  next?(): Promise<string>
  /** Stream: everything until the server closes; datagram: the next datagram, as text. */
  rest(): Promise<string>
  close(): Promise<void>
}

function withErrors<T extends abstract new (...args: any[]) => any>(Base: T) {
  abstract class Recording extends Base {
    errors: unknown[] = []
    handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
      this.errors.push(error)
    }
  }
  return Recording
}

const dirs: string[] = []
const tempPath = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), 'sst-'))
  dirs.push(dir)
  return join(dir, name)
}
let abstractCount = 0

async function streamClient(options: { host: string; port: number } | { path: string }): Promise<Client> {
  const client = await connectStream(options)
  let pending = Buffer.alloc(0)
  const next = async () => {
    while (!pending.includes(10)) {
      const chunk = await client.receive()
      if (chunk.length === 0) break
      pending = Buffer.concat([pending, chunk])
    }
    const end = pending.indexOf(10) + 1 || pending.length
    const text = pending.subarray(0, end).toString().trim()
    pending = pending.subarray(end)
    return text
  }
  // Each message asks for the handler's thread first: `thread`, then the text.
  const send = (text: string) => client.send(`thread\n${text}\n`)
  const reply = async (): Promise<[string, string]> => [await next(), await next()]
  return {
    async ask(text) {
      await send(text)
      return reply()
    },
    send,
    reply,
    line: (text) => client.send(`${text}\n`),
    next,
    async rest() {
      const chunks: Buffer[] = [pending]
      for (let chunk = await client.receive(); chunk.length > 0; chunk = await client.receive())
        chunks.push(chunk)
      pending = Buffer.alloc(0)
      return Buffer.concat(chunks).toString()
    },
    close: () => client.close(),
  }
}

function datagramReplies(receive: () => Promise<Buffer>) {
  return async (): Promise<[string, string]> => {
    const [thread, ...rest] = (await receive()).toString().split(' ')
    return [thread!, rest.join(' ')]
  }
}

interface Setup {
  name: string
  Server: any
  Handler: any
  stream: boolean
  address(): unknown
  addressInUse(server: Server): unknown
  connect(server: Server): Promise<Client>
  /** A request that stays in flight until `release` (stream) or for a while (datagram). */
  slow: string
  /** Reports setup/handle/finish to the client (fixtures' Steps handlers). */
  Steps: any
}

const setups: Setup[] = [
  ...['127.0.0.1', '::1'].map(
    (host): Setup => ({
      name: `TCPServer on ${host}`,
      Server: withErrors(ThreadingMixIn(TCPServer)),
      Handler: Commands,
      stream: true,
      address: () => ({ host, port: 0 }),
      addressInUse: (server) => ({ host, port: server.serverAddress.port }),
      connect: (server) => streamClient({ host, port: server.serverAddress.port }),
      slow: 'wait',
      Steps,
    }),
  ),
  ...(['path', 'abstract'] as const).map(
    (kind): Setup => ({
      name: `UnixStreamServer on ${kind === 'path' ? 'a path' : 'an abstract name'}`,
      Server: withErrors(ThreadingMixIn(UnixStreamServer)),
      Handler: Commands,
      stream: true,
      address: () =>
        kind === 'path' ? tempPath('s.sock') : `\0sst-${process.pid}-${++abstractCount}-${Date.now()}`,
      addressInUse: (server) => server.serverAddress,
      connect: (server) => streamClient({ path: server.serverAddress }),
      slow: 'wait',
      Steps,
    }),
  ),
  ...['127.0.0.1', '::1'].map(
    (host): Setup => ({
      name: `UDPServer on ${host}`,
      Server: withErrors(ThreadingMixIn(UDPServer)),
      Handler: DatagramEcho,
      stream: false,
      address: () => ({ host, port: 0 }),
      addressInUse: (server) => ({ host, port: server.serverAddress.port }),
      async connect(server) {
        const client = await connectDatagram({ host, port: server.serverAddress.port })
        const reply = datagramReplies(() => client.receive())
        return {
          async ask(text) {
            await client.send(text)
            return reply()
          },
          send: (text) => client.send(text),
          reply,
          rest: async () => (await client.receive()).toString(),
          close: () => client.close(),
        }
      },
      slow: 'spin 300',
      Steps: DatagramSteps,
    }),
  ),
  {
    name: 'UnixDatagramServer on a path',
    Server: withErrors(ThreadingMixIn(UnixDatagramServer)),
    Handler: UnixDatagramEcho,
    stream: false,
    address: () => tempPath('d.sock'),
    addressInUse: (server) => server.serverAddress,
    async connect(server) {
      const received: Buffer[] = []
      let wake: (() => void) | undefined
      const socket = await UnixDatagramSocket.open(
        (packet) => {
          received.push(packet)
          wake?.()
        },
        () => {},
      )
      socket.bind(tempPath('client.sock'))
      const next = async () => {
        while (received.length === 0) await new Promise<void>((resolve) => (wake = resolve))
        return received.shift()!
      }
      const reply = datagramReplies(next)
      const send = (text: string) => socket.send(Buffer.from(text), server.serverAddress)
      return {
        async ask(text) {
          await send(text)
          return reply()
        },
        send,
        reply,
        rest: async () => (await next()).toString(),
        async close() {
          socket.close()
        },
      }
    },
    slow: 'spin 300',
    Steps: UnixDatagramSteps,
  },
]

for (const setup of setups) {
  describe(`ThreadingMixIn(${setup.name})`, () => {
    const servers = new Set<Server>()
    const clients = new Set<Client>()
    const workers = new Set<Worker>()
    const create = async (
      options: Record<string, unknown> = {},
      address = setup.address(),
      Handler = setup.Handler,
      ServerClass = setup.Server,
    ) => {
      const server: Server = await ServerClass.create(address, Handler, {
        handlerModule,
        threads: 2,
        ...options,
      })
      servers.add(server)
      for (const worker of server.workerThreads) workers.add(worker)
      return server
    }
    const connect = async (server: Server) => {
      const client = await setup.connect(server)
      clients.add(client)
      return client
    }
    afterEach(async () => {
      for (const client of clients) await client.close()
      for (const server of servers) {
        for (const worker of server.workerThreads) workers.add(worker)
        await server.shutdown()
        await server.serverClose()
      }
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
      const alive = [...workers].filter((worker) => worker.threadId !== -1)
      clients.clear()
      servers.clear()
      workers.clear()
      expect(alive, 'worker threads left after serverClose()').toEqual([])
    })

    // test_ThreadingTCPServer & co (run_server with stream_examine / dgram_examine).
    it('echoes for several clients in turn from pool threads, then shuts down and closes', async () => {
      const server = await create()
      const pool = server.workerThreads.map((worker) => String(worker.threadId))
      expect(pool).toHaveLength(2)
      const loop = server.serveForever({ pollInterval: 10 })
      for (let i = 0; i < 3; i++) {
        const client = await connect(server)
        const [thread, text] = await client.ask(`hello ${i}`)
        expect(text).toBe(`hello ${i}`)
        expect(pool).toContain(thread)
        await client.close()
      }
      await server.shutdown()
      await loop
      await server.serverClose()
      expect(server.closed).toBe(true)
      await waitFor(() => server.activeRequestCount === 0, { what: 'every request to end' })
      expect(server.workerThreads).toEqual([])
    })

    // ErrorHandlerTest.test_threading_handled, BaseServer.handle_error.
    it('passes a handler error to handleError with the remote stack and keeps serving', async () => {
      const server = await create()
      void server.serveForever({ pollInterval: 10 })
      const client = await connect(server)
      await client.send(setup.stream ? 'throw boom' : 'throw')
      await waitFor(() => server.errors.length === 1, { what: 'handleError' })
      const error = server.errors[0] as RemoteHandlerError
      expect(error).toBeInstanceOf(RemoteHandlerError)
      expect(error.stack).toContain('handlers.mjs')
      const [, text] = await (await connect(server)).ask('after')
      expect(text).toBe('after')
    })

    // bpo-31151 / bpo-37193: server_close() waits for the requests in flight (block_on_close).
    it('serverClose waits for in-flight handlers, replies reach the clients, then no thread is left', async () => {
      const server = await create()
      const workersBefore = [...server.workerThreads]
      const loop = server.serveForever({ pollInterval: 10 })
      const started = new Promise<void>((resolve) => {
        const onStart = (message: any) => {
          if (message.server !== server) return
          diagnostics.unsubscribe('socketserver:request:start', onStart)
          resolve()
        }
        diagnostics.subscribe('socketserver:request:start', onStart)
      })
      const client = await connect(server)
      await client.send(setup.slow)
      await started
      if (setup.stream) expect((await client.reply())[1]).toBe('waiting')
      await server.shutdown()
      await loop
      let closed = false
      const closing = server.serverClose().then(() => (closed = true))
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(closed).toBe(false)
      expect(server.activeRequestCount).toBe(1)
      if (setup.stream) {
        await client.line!('go') // the 'wait' handler answers once it reads another line
        expect(await client.next!()).toBe('released')
        await client.close()
      } else {
        expect((await client.reply())[1]).toBe(setup.slow)
      }
      await closing
      expect(server.workerThreads).toEqual([])
      expect(workersBefore.map((worker) => worker.threadId)).toEqual([-1, -1])
    })

    // BaseRequestHandler.__init__: setup(); try: handle() finally: finish(); then handle_error.
    it('runs setup, handle and finish in the worker, finish also when handle throws', async () => {
      const server = await create({}, setup.address(), setup.Steps)
      void server.serveForever({ pollInterval: 10 })
      const fine = await connect(server)
      if (setup.stream) await fine.line!('fine')
      else await fine.send('fine')
      const expected = (line: string) =>
        setup.stream ? `setup\nhandle ${line}\nfinish\n` : `setup;handle ${line};finish`
      expect(await fine.rest()).toBe(expected('fine'))
      const failing = await connect(server)
      if (setup.stream) await failing.line!('boom')
      else await failing.send('boom')
      expect(await failing.rest()).toBe(expected('boom'))
      await waitFor(() => server.errors.length === 1, { what: 'handleError' })
      expect((server.errors[0] as Error).message).toBe('boom')
    })

    // test_shutdown_request_called_if_verify_request_false (Issue #26309).
    it('calls shutdownRequest, and starts no handler, when verifyRequest returns false', async () => {
      const started: unknown[] = []
      const onStart = (message: any) => started.push(message.server)
      class Refusing extends setup.Server {
        shutdownCalled = 0
        refuse = true
        verifyRequest() {
          return !this.refuse
        }
        shutdownRequest(request: unknown) {
          this.shutdownCalled++
          super.shutdownRequest(request)
        }
      }
      diagnostics.subscribe('socketserver:request:start', onStart)
      try {
        const server = (await create({}, setup.address(), setup.Handler, Refusing)) as Server & Refusing
        const refused = await connect(server)
        await refused.send('refused')
        await server.handleRequest()
        expect(server.shutdownCalled).toBe(1)
        expect(started).not.toContain(server)
        if (setup.stream) expect(await refused.rest()).toBe('')
        server.refuse = false
        const accepted = setup.stream ? await connect(server) : refused
        await accepted.send('accepted')
        await server.handleRequest()
        // For a datagram client, the first reply it gets is this one: the refused one had none.
        expect((await accepted.reply())[1]).toBe('accepted')
      } finally {
        diagnostics.unsubscribe('socketserver:request:start', onStart)
      }
    })

    // BaseServer.handle_request / handle_timeout.
    it('handleRequest hands exactly one request to a thread, or calls handleTimeout after timeout', async () => {
      class Timing extends setup.Server {
        timeouts = 0
        handleTimeout() {
          this.timeouts++
        }
      }
      const server = (await create({ timeout: 20 }, setup.address(), setup.Handler, Timing)) as Server &
        Timing
      await server.handleRequest()
      expect(server.timeouts).toBe(1)
      const first = await connect(server)
      const second = await connect(server)
      await first.send('first')
      await second.send('second')
      await waitFor(() => server.queuedRequestCount === 2, { what: 'two queued requests' })
      await server.handleRequest()
      expect((await first.reply())[1]).toBe('first')
      expect(server.queuedRequestCount).toBe(1)
      await server.handleRequest()
      expect((await second.reply())[1]).toBe('second')
      expect(server.timeouts).toBe(1)
    })

    // The contract: AlreadyServingError / ServerClosedError; serverClose idempotent (Issue #22435).
    it('refuses a second loop while serving and any after close; serverClose is idempotent', async () => {
      const server = await create()
      const loop = server.serveForever({ pollInterval: 10 })
      await expect(server.serveForever()).rejects.toMatchObject({ code: 'SOCKSRV_ALREADY_SERVING' })
      await server.shutdown()
      await loop
      await Promise.all([server.serverClose(), server.serverClose()])
      await server.serverClose()
      await expect(server.serveForever()).rejects.toMatchObject({ code: 'SOCKSRV_SERVER_CLOSED' })
      expect(server.workerThreads).toEqual([])
    })

    // BaseServer.shutdown() docstring: safe from inside a handler (here, from a worker thread).
    it('lets a handler in a worker call this.server.shutdown() without deadlock', async () => {
      const server = await create()
      const loop = server.serveForever({ pollInterval: 10 })
      const client = await connect(server)
      const [, text] = await client.ask('shutdown')
      expect(text).toBe(setup.stream ? 'stopped' : 'shutdown')
      await loop
      await client.close() // a stream handler serves its connection until the client leaves
      await server.serverClose()
      expect(server.activeRequestCount).toBe(0)
    })

    // serve_forever's shutdown check; server_close drops the waiting requests.
    it('handles no request after shutdown; serverClose drops the waiting ones', async () => {
      const server = await create()
      const loop = server.serveForever({ pollInterval: 10 })
      const first = await connect(server)
      expect((await first.ask('one'))[1]).toBe('one')
      await first.close()
      await server.shutdown()
      await loop
      const late = await connect(server)
      if (setup.stream) await late.line!('late')
      else await late.send('late')
      await waitFor(() => server.queuedRequestCount === 1, { what: 'the late request to be queued' })
      await server.serverClose()
      expect(server.queuedRequestCount).toBe(0)
      if (setup.stream) expect(await late.rest()).toBe('')
    })

    // bpo-37193: block_on_close = False.
    it('serverClose does not wait with blockOnClose false; the threads stop once the handler is done', async () => {
      const server = await create({ blockOnClose: false })
      const workersBefore = [...server.workerThreads]
      const loop = server.serveForever({ pollInterval: 10 })
      const client = await connect(server)
      if (setup.stream) {
        expect(await client.ask('wait')).toEqual([expect.any(String), 'waiting'])
      } else {
        await client.send(setup.slow)
        await waitFor(() => server.activeRequestCount === 1, { what: 'the slow request' })
      }
      await server.shutdown()
      await loop
      await server.serverClose()
      expect(server.activeRequestCount).toBe(1)
      if (setup.stream) {
        await client.line!('go')
        expect(await client.next!()).toBe('released')
        await client.close()
      }
      await waitFor(() => workersBefore.every((worker) => worker.threadId === -1), {
        what: 'the threads to stop',
      })
    })

    // bpo-11109 (service_actions): once per loop turn.
    it('calls serviceActions once per request-driven loop turn', async () => {
      class Acting extends setup.Server {
        turns = 0
        serviceActions() {
          this.turns++
        }
      }
      const server = (await create({}, setup.address(), setup.Handler, Acting)) as Server & Acting
      const loop = server.serveForever({ pollInterval: 600_000 })
      for (let i = 1; i <= 3; i++) {
        expect((await (await connect(server)).ask(`turn ${i}`))[1]).toBe(`turn ${i}`)
        await waitFor(() => server.turns >= i, { what: `serviceActions after request ${i}` })
      }
      await server.shutdown()
      await loop
      expect(server.turns).toBe(3)
    })

    // test_shutdown (Issue #2302), with worker pools.
    it('stops serveForever on 20 servers at once and leaves no thread', async () => {
      const many = await Promise.all(Array.from({ length: 20 }, () => create({ threads: 1 })))
      const loops = many.map((server) => server.serveForever({ pollInterval: 10 }))
      for (const server of many) await server.shutdown()
      await Promise.all(loops)
      await Promise.all(many.map((server) => server.serverClose()))
      for (const server of many) expect(server.workerThreads).toEqual([])
    })

    // test_tcpserver_bind_leak (Issue #22435): a failed bind starts no thread and leaks nothing.
    it('starts no thread and leaks no descriptor when the bind fails', async () => {
      const holder = await create({ threads: 1 })
      const spawned: unknown[] = []
      const onWorker = (message: any) => message.event === 'spawn' && spawned.push(message)
      diagnostics.subscribe('socketserver:worker:lifecycle', onWorker)
      try {
        await expect(create({}, setup.addressInUse(holder))).rejects.toMatchObject({
          code: 'SOCKSRV_BIND_FAILED',
        })
        const before = openFileDescriptorCount()
        for (let i = 0; i < 100; i++) {
          await expect(create({}, setup.addressInUse(holder))).rejects.toMatchObject({
            code: 'SOCKSRV_BIND_FAILED',
          })
        }
        expect(openFileDescriptorCount() - before).toBeLessThan(5)
        expect(spawned).toEqual([])
      } finally {
        diagnostics.unsubscribe('socketserver:worker:lifecycle', onWorker)
      }
    })

    // test_context_manager.
    it('closes the server and its threads at the end of an `await using` block', async () => {
      let kept: Server | undefined
      {
        await using server = await create()
        kept = server
        void server.serveForever({ pollInterval: 10 })
        const [, text] = await (await connect(server)).ask('using')
        expect(text).toBe('using')
        for (const client of clients) await client.close()
      }
      expect(kept.closed).toBe(true)
      expect(kept.workerThreads).toEqual([])
    })
  })
}
