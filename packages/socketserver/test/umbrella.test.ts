// The umbrella's promise: Python's names all exist, and each of Python's eight concurrency ×
// transport classes (and the event-loop variants) is a working server over real sockets.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectDatagram, connectStream } from '@socketserver/compliance-tests'
import * as socketserver from '@socketserver/socketserver'
import {
  type BaseServer,
  EventLoopTCPServer,
  EventLoopUDPServer,
  EventLoopUnixDatagramServer,
  EventLoopUnixStreamServer,
  ForkingMixIn,
  ForkingTCPServer,
  ForkingUDPServer,
  ForkingUnixDatagramServer,
  ForkingUnixStreamServer,
  TCPServer,
  ThreadingMixIn,
  ThreadingTCPServer,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
  ThreadingUnixStreamServer,
  UDPServer,
  UnixDatagramServer,
  UnixDatagramSocket,
  UnixStreamServer,
} from '@socketserver/socketserver'
import { afterEach, describe, expect, it } from 'vitest'
import { DatagramEcho, Echo } from './fixtures/handlers.mjs'

const handlerModule = new URL('./fixtures/handlers.mjs', import.meta.url).href

// Every class and function name of Python's socketserver module (3.13), in its TypeScript spelling.
const pythonNames = [
  'BaseServer',
  'TCPServer',
  'UDPServer',
  'UnixStreamServer',
  'UnixDatagramServer',
  'ForkingMixIn',
  'ThreadingMixIn',
  'ForkingTCPServer',
  'ForkingUDPServer',
  'ForkingUnixStreamServer',
  'ForkingUnixDatagramServer',
  'ThreadingTCPServer',
  'ThreadingUDPServer',
  'ThreadingUnixStreamServer',
  'ThreadingUnixDatagramServer',
  'BaseRequestHandler',
  'StreamRequestHandler',
  'DatagramRequestHandler',
]

describe('exports', () => {
  it('has every Python name, and the event-loop variants', () => {
    const names = [
      ...pythonNames,
      'EventLoopMixIn',
      'EventLoopTCPServer',
      'EventLoopUDPServer',
      'EventLoopUnixStreamServer',
      'EventLoopUnixDatagramServer',
    ]
    const missing = names.filter(
      (name) => typeof (socketserver as Record<string, unknown>)[name] !== 'function',
    )
    expect(missing).toEqual([])
  })

  it('builds each combination from its mix-in and its transport, as Python does', () => {
    const combos: [Function, Function][] = [
      [ThreadingTCPServer, TCPServer],
      [ThreadingUDPServer, UDPServer],
      [ThreadingUnixStreamServer, UnixStreamServer],
      [ThreadingUnixDatagramServer, UnixDatagramServer],
      [ForkingTCPServer, TCPServer],
      [ForkingUDPServer, UDPServer],
      [ForkingUnixStreamServer, UnixStreamServer],
      [ForkingUnixDatagramServer, UnixDatagramServer],
    ]
    for (const [combo, transport] of combos) {
      expect(combo.prototype, combo.name).toBeInstanceOf(transport)
      expect(combo.prototype, combo.name).toBeInstanceOf(socketserver.BaseServer)
    }
    // The re-exported mix-ins are the packages' own (one class identity, not a copy).
    expect(ThreadingMixIn).toBe(socketserver.ThreadingMixIn)
    expect(ForkingMixIn).toBe(socketserver.ForkingMixIn)
  })
})

type AnyServer = BaseServer<any, any, any>
const servers: AnyServer[] = []
const cleanups: (() => Promise<void> | void)[] = []
const dirs: string[] = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
  for (const server of servers.splice(0)) {
    await server.shutdown()
    await server.serverClose()
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ssu-'))
  dirs.push(dir)
  return dir
}

/** Starts serving and keeps the server for afterEach. */
function serve<T extends AnyServer>(server: T): T {
  servers.push(server)
  void server.serveForever({ pollInterval: 50 })
  return server
}

// One pool worker/child each: enough for a round trip, and light on a 2-core machine.
const threadOptions = { handlerModule, threads: 1 }
const forkOptions = { handlerModule, processes: 1 }
const payload = (name: string) => Buffer.from(`${name} \u00e9\u2603 ${'x'.repeat(300)}\n`)

async function streamRoundTrip(name: string, connect: { host: string; port: number } | { path: string }) {
  const client = await connectStream(connect)
  cleanups.push(() => client.close())
  const data = payload(name)
  await client.send(data)
  let received = Buffer.alloc(0)
  while (received.length < data.length) {
    const chunk = await client.receive()
    if (chunk.length === 0) break
    received = Buffer.concat([received, chunk])
  }
  expect(received.toString()).toBe(data.toString())
}

async function udpRoundTrip(name: string, server: AnyServer) {
  const { address, port } = server.serverAddress as { address: string; port: number }
  const client = await connectDatagram({ host: address, port })
  cleanups.push(() => client.close())
  await client.send(payload(name))
  expect((await client.receive()).toString()).toBe(payload(name).toString())
}

async function unixDatagramRoundTrip(name: string, server: AnyServer) {
  const received: Buffer[] = []
  let wake: (() => void) | undefined
  const client = await UnixDatagramSocket.open(
    (packet) => {
      received.push(packet)
      wake?.()
    },
    () => {},
  )
  cleanups.push(() => client.close())
  client.bind(join(tempDir(), 'client.sock'))
  await client.send(payload(name), server.serverAddress as string)
  while (received.length === 0) await new Promise<void>((resolve) => (wake = resolve))
  expect(received[0]!.toString()).toBe(payload(name).toString())
}

const loopback = { host: '127.0.0.1', port: 0 }
const tcpAddress = (server: AnyServer) => {
  const { address, port } = server.serverAddress as { address: string; port: number }
  return { host: address, port }
}

describe('each combination echoes over real sockets', () => {
  it('ThreadingTCPServer', async () => {
    const server = serve(await ThreadingTCPServer.create(loopback, Echo, threadOptions))
    await streamRoundTrip('ThreadingTCPServer', tcpAddress(server))
  })

  it('ThreadingUDPServer', async () => {
    const server = serve(await ThreadingUDPServer.create(loopback, DatagramEcho, threadOptions))
    await udpRoundTrip('ThreadingUDPServer', server)
  })

  it('ThreadingUnixStreamServer', async () => {
    const path = join(tempDir(), 'server.sock')
    serve(await ThreadingUnixStreamServer.create(path, Echo, threadOptions))
    await streamRoundTrip('ThreadingUnixStreamServer', { path })
  })

  it('ThreadingUnixDatagramServer', async () => {
    const path = join(tempDir(), 'server.sock')
    const server = serve(await ThreadingUnixDatagramServer.create(path, DatagramEcho, threadOptions))
    await unixDatagramRoundTrip('ThreadingUnixDatagramServer', server)
  })

  it('ForkingTCPServer', async () => {
    const server = serve(await ForkingTCPServer.create(loopback, Echo, forkOptions))
    await streamRoundTrip('ForkingTCPServer', tcpAddress(server))
  })

  it('ForkingUDPServer', async () => {
    const server = serve(await ForkingUDPServer.create(loopback, DatagramEcho, forkOptions))
    await udpRoundTrip('ForkingUDPServer', server)
  })

  it('ForkingUnixStreamServer', async () => {
    const path = join(tempDir(), 'server.sock')
    serve(await ForkingUnixStreamServer.create(path, Echo, forkOptions))
    await streamRoundTrip('ForkingUnixStreamServer', { path })
  })

  it('ForkingUnixDatagramServer', async () => {
    const path = join(tempDir(), 'server.sock')
    const server = serve(await ForkingUnixDatagramServer.create(path, DatagramEcho, forkOptions))
    await unixDatagramRoundTrip('ForkingUnixDatagramServer', server)
  })

  it('the event-loop variants', async () => {
    const tcp = serve(await EventLoopTCPServer.create(loopback, Echo))
    await streamRoundTrip('EventLoopTCPServer', tcpAddress(tcp))
    const udp = serve(await EventLoopUDPServer.create(loopback, DatagramEcho))
    await udpRoundTrip('EventLoopUDPServer', udp)
    const streamPath = join(tempDir(), 'stream.sock')
    serve(await EventLoopUnixStreamServer.create(streamPath, Echo))
    await streamRoundTrip('EventLoopUnixStreamServer', { path: streamPath })
    const unixDgram = serve(
      await EventLoopUnixDatagramServer.create(join(tempDir(), 'dgram.sock'), DatagramEcho),
    )
    await unixDatagramRoundTrip('EventLoopUnixDatagramServer', unixDgram)
  })
})
