// What the shared compliance suite (compliance-*.test.ts) cannot see of ThreadingMixIn, against
// every transport: handlers run in the pool's threads, a handler's error keeps its remote stack,
// serverClose() resolves only once every thread has exited, and a failed bind starts no thread.
import diagnostics from 'node:diagnostics_channel'
import {
  type ComplianceClient,
  forEachTransport,
  openFileDescriptorCount,
  SocketPaths,
  waitFor,
} from '@socketserver/compliance-tests'
import { type BaseServer, RemoteHandlerError } from '@socketserver/core'
import { UnixDatagramSocket } from '@socketserver/transport-unix'
import { afterEach, describe, expect, it } from 'vitest'
import type { ThreadingServer } from '../src/index.js'
import { threadingServers } from './compliance-setups.js'
import { Commands, DatagramEcho, UnixDatagramEcho } from './fixtures/handlers.mjs'
import { ask, handlerModule, Resources, requestStarted } from './helpers.js'

type Server = BaseServer<any, any, any> & ThreadingServer
type Creatable = { create(address: unknown, Handler: unknown, options: object): Promise<Server> }

const paths = new SocketPaths('sst-')
const r = new Resources() // after each test: no worker thread outlives serverClose()
afterEach(async () => {
  try {
    await r.cleanup()
  } finally {
    paths.cleanup()
  }
})

/** A datagram reply of the fixtures' handlers: `<threadId> <text>`, as `[threadId, text]`. */
async function datagramReply(client: ComplianceClient): Promise<[string, string]> {
  const [thread, ...rest] = (await client.receive()).toString().split(' ')
  return [thread!, rest.join(' ')]
}

forEachTransport(threadingServers, UnixDatagramSocket, paths, (Server, where, transport) => {
  const stream = transport.socketType === 'stream'
  // The fixtures' test protocol: lines for Commands (`thread` tells its thread); datagrams echoed.
  const Handler = stream
    ? Commands
    : Server === threadingServers.UnixDatagramServer
      ? UnixDatagramEcho
      : DatagramEcho
  const create = async (options: Record<string, unknown> = {}, address = transport.address()) =>
    r.server(
      await (Server as unknown as Creatable).create(address, Handler, {
        handlerModule,
        threads: 2,
        ...options,
      }),
    )
  const connect = async (server: Server) => r.client(await transport.connect(server))
  /** Sends `text` as one request; resolves with `[id of the thread that handled it, reply text]`. */
  const askThread = async (client: ComplianceClient, text: string): Promise<[string, string]> => {
    if (stream) return [await ask(client, 'thread'), await ask(client, text)]
    await client.send(text)
    return datagramReply(client)
  }

  describe(`${Server.name} on ${where}`, () => {
    // test_ThreadingTCPServer & co (run_server with stream_examine / dgram_examine).
    it('echoes for several clients in turn from pool threads, then shuts down and closes', async () => {
      const server = await create()
      const pool = server.workerThreads.map((worker) => String(worker.threadId))
      expect(pool).toHaveLength(2)
      const loop = server.serveForever({ pollInterval: 10 })
      for (let i = 0; i < 3; i++) {
        const client = await connect(server)
        const [thread, text] = await askThread(client, `hello ${i}`)
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
      const errors: unknown[] = []
      server.handleError = (_request, _clientAddress, error) => {
        errors.push(error)
      }
      void server.serveForever({ pollInterval: 10 })
      const client = await connect(server)
      await client.send(stream ? 'throw boom\n' : 'throw')
      await waitFor(() => errors.length === 1, { what: 'handleError' })
      const error = errors[0] as RemoteHandlerError
      expect(error).toBeInstanceOf(RemoteHandlerError)
      expect(error.stack).toContain('handlers.mjs')
      const [, text] = await askThread(await connect(server), 'after')
      expect(text).toBe('after')
    })

    // bpo-31151 / bpo-37193: server_close() waits for the requests in flight (block_on_close).
    it('serverClose waits for in-flight handlers, replies reach the clients, then no thread is left', async () => {
      const server = await create()
      const workersBefore = [...server.workerThreads]
      const loop = server.serveForever({ pollInterval: 10 })
      const started = requestStarted(server)
      const client = await connect(server)
      // A request that stays in flight: until its next line (stream), or for 300 ms (datagram).
      if (stream) expect(await ask(client, 'wait')).toBe('waiting')
      else await client.send('spin 300')
      await started
      await server.shutdown()
      await loop
      let closed = false
      const closing = server.serverClose().then(() => (closed = true))
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(closed).toBe(false)
      expect(server.activeRequestCount).toBe(1)
      if (stream) {
        expect(await ask(client, 'go')).toBe('released') // the 'wait' handler answers its next line
        await client.close()
      } else {
        expect((await datagramReply(client))[1]).toBe('spin 300')
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
        await expect(create({}, transport.addressInUse(holder))).rejects.toMatchObject({
          code: 'SOCKSRV_BIND_FAILED',
        })
        const before = openFileDescriptorCount()
        for (let i = 0; i < 100; i++) {
          await expect(create({}, transport.addressInUse(holder))).rejects.toMatchObject({
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
})
