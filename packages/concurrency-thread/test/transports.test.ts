// What the shared compliance suite (compliance-*.test.ts) cannot see of ThreadingMixIn, against
// every transport: handlers run in the pool's threads, a handler's error keeps its remote stack,
// serverClose() resolves only once every thread has exited, and a failed bind starts no thread.
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
import { Commands, DatagramEcho, UnixDatagramEcho } from './fixtures/handlers.mjs'
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
          close: () => client.close(),
        }
      },
      slow: 'spin 300',
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
        async close() {
          socket.close()
        },
      }
    },
    slow: 'spin 300',
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
  })
}
