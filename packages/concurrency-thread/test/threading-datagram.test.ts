import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import { connectDatagram, type DatagramClient, waitFor } from '@socketserver/compliance-tests'
import { RemoteHandlerError } from '@socketserver/core'
import { UDPServer } from '@socketserver/transport-udp'
import { UnixDatagramServer, UnixDatagramSocket } from '@socketserver/transport-unix'
import { afterEach, describe, expect, it } from 'vitest'
import { ThreadingMixIn } from '../src/index.js'
import { DatagramEcho, UnixDatagramEcho } from './fixtures/handlers.mjs'
import { handlerModule, requestStarted } from './helpers.js'

class ThreadingUDPServer extends ThreadingMixIn(UDPServer) {
  errors: unknown[] = []
  override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
    this.errors.push(error)
  }
}
class ThreadingUnixDatagramServer extends ThreadingMixIn(UnixDatagramServer) {}

const servers: Array<{ serverClose(): Promise<void>; shutdown(): Promise<void>; workerThreads: Worker[] }> =
  []
const clients: Array<{ close(): unknown }> = []
const dirs: string[] = []
const workers: Worker[] = []
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close()
  for (const server of servers.splice(0)) {
    workers.push(...server.workerThreads)
    await server.shutdown()
    await server.serverClose()
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  // serverClose() left no worker thread behind.
  expect(workers.splice(0).filter((worker) => worker.threadId !== -1)).toEqual([])
})

describe('ThreadingMixIn(UDPServer)', () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`handles datagrams in worker threads and replies from the bound socket (${host})`, async () => {
      const server = await ThreadingUDPServer.create({ host, port: 0 }, DatagramEcho, {
        handlerModule,
        threads: 2,
      })
      servers.push(server)
      const poolIds = server.workerThreads.map((w) => String(w.threadId))
      void server.serveForever({ pollInterval: 10 })
      const client: DatagramClient = await connectDatagram({ host, port: server.serverAddress.port })
      clients.push(client)
      const replies = new Set<string>()
      const from = new Set<number>()
      client.socket.on('message', (_data, rinfo) => from.add(rinfo.port))
      for (let i = 0; i < 8; i++) {
        await client.send(`ping ${i}`)
        const reply = (await client.receive()).toString()
        const [thread, ...rest] = reply.split(' ')
        expect(rest.join(' ')).toBe(`ping ${i}`)
        expect(poolIds).toContain(thread)
        replies.add(thread!)
      }
      expect([...from]).toEqual([server.serverAddress.port]) // every reply came from the server's socket
    })
  }

  it('passes a datagram handler error to handleError with the remote stack, and keeps serving', async () => {
    const server = await ThreadingUDPServer.create({ host: '127.0.0.1', port: 0 }, DatagramEcho, {
      handlerModule,
      threads: 1,
    })
    servers.push(server)
    void server.serveForever({ pollInterval: 10 })
    const client = await connectDatagram({ host: '127.0.0.1', port: server.serverAddress.port })
    clients.push(client)
    await client.send('throw')
    await waitFor(() => server.errors.length === 1, { what: 'handleError' })
    const error = server.errors[0] as RemoteHandlerError
    expect(error).toBeInstanceOf(RemoteHandlerError)
    expect(error.remoteName).toBe('RangeError')
    expect(error.message).toBe('datagram handler threw')
    expect(error.stack).toContain('handlers.mjs')
    await client.send('after')
    expect((await client.receive()).toString()).toMatch(/^\d+ after$/)
  })

  it('keeps the socket open for replies in flight at serverClose, with a thread per request', async () => {
    const server = await ThreadingUDPServer.create({ host: '127.0.0.1', port: 0 }, DatagramEcho, {
      handlerModule,
      threadPerRequest: true,
    })
    servers.push(server)
    void server.serveForever({ pollInterval: 10 })
    const client = await connectDatagram({ host: '127.0.0.1', port: server.serverAddress.port })
    clients.push(client)
    const ids = new Set<string>()
    for (let i = 0; i < 3; i++) {
      await client.send(`n${i}`)
      ids.add((await client.receive()).toString().split(' ')[0]!)
    }
    expect(ids.size).toBe(3) // a new thread each time
    // serverClose() once the last datagram is being processed (its thread is still starting).
    const started = requestStarted(server)
    await client.send('last')
    await started
    await server.serverClose()
    expect((await client.receive()).toString()).toMatch(/^\d+ last$/)
    expect(server.workerThreads).toHaveLength(0)
  })
})

describe('ThreadingMixIn(UnixDatagramServer)', () => {
  it('handles datagrams in worker threads and replies to the sender path through the bound socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sst-'))
    dirs.push(dir)
    const server = await ThreadingUnixDatagramServer.create(join(dir, 'server.sock'), UnixDatagramEcho, {
      handlerModule,
      threads: 2,
    })
    servers.push(server)
    const poolIds = server.workerThreads.map((w) => String(w.threadId))
    void server.serveForever({ pollInterval: 10 })
    const received: Buffer[] = []
    let wake: (() => void) | undefined
    const socket = await UnixDatagramSocket.open(
      (packet) => {
        received.push(packet)
        wake?.()
      },
      () => {},
    )
    clients.push(socket)
    socket.bind(join(dir, 'client.sock'))
    for (let i = 0; i < 4; i++) {
      await socket.send(Buffer.from(`unix ${i}`), server.serverAddress)
      while (received.length === 0) await new Promise<void>((resolve) => (wake = resolve))
      const [thread, ...rest] = received.shift()!.toString().split(' ')
      expect(rest.join(' ')).toBe(`unix ${i}`)
      expect(poolIds).toContain(thread)
    }
  })
})
