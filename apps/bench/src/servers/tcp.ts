import { once } from 'node:events'
import net from 'node:net'
import { BaseRequestHandler, type RequestHandlerClass } from '@socketserver/core'
import { serveMetrics } from '@socketserver/metrics'
import {
  EventLoopTCPServer,
  type InetAddress,
  TCPServer,
  type TCPServerOptions,
} from '@socketserver/transport-tcp'
import { answerOneLine, BACKLOG, closeRaw, handlers, listenRaw, rawEchoServer, serve } from './common.js'
import type { RunningServer } from './types.js'

export async function rawNetEcho(host: string): Promise<RunningServer> {
  const server = rawEchoServer()
  await listenRaw(server, { host, port: 0 })
  return { port: (server.address() as net.AddressInfo).port, close: () => closeRaw(server) }
}

/** The raw peer for a request per connection: read one line, write it back, close. */
export async function rawNetLine(host: string): Promise<RunningServer> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    socket.on('error', () => {})
    answerOneLine(socket)
  })
  await listenRaw(server, { host, port: 0 })
  return { port: (server.address() as net.AddressInfo).port, close: () => closeRaw(server) }
}

/**
 * The floor of the README's handler shape in Node: `for await (const line of lines) await write(line)`
 * written by hand on node:net with no framework, over the least iterator that can serve it (one
 * pending promise at a time; each chunk taken as one line, as the ping-pong and idle workloads send
 * them: no line splitting, limits or timeouts). What an async function suspended on a promise per
 * connection costs by itself, against which the framework's line handler is compared.
 */
export async function rawNetAwait(host: string): Promise<RunningServer> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    void echoLines(socket)
  })
  await listenRaw(server, { host, port: 0 })
  return { port: (server.address() as net.AddressInfo).port, close: () => closeRaw(server) }
}

async function echoLines(socket: net.Socket): Promise<void> {
  for await (const line of chunksOf(socket)) await written(socket, line)
}

const WRITTEN = Promise.resolve()
/** `wfile.write()` by hand: settled at once when the socket took the data, else at its 'drain'. */
function written(socket: net.Socket, data: Buffer): Promise<unknown> {
  return socket.write(data) ? WRITTEN : once(socket, 'drain')
}

function chunksOf(socket: net.Socket): AsyncIterableIterator<Buffer> {
  const queued: Buffer[] = []
  let waiting: ((result: IteratorResult<Buffer>) => void) | undefined
  let ended = false
  socket.on('data', (chunk: Buffer) => {
    if (waiting) {
      const resolve = waiting
      waiting = undefined
      resolve({ value: chunk, done: false })
    } else queued.push(chunk)
  })
  const end = () => {
    ended = true
    waiting?.({ value: undefined, done: true })
    waiting = undefined
  }
  socket.on('end', end)
  socket.on('close', end)
  return {
    next() {
      const chunk = queued.shift()
      if (chunk) return Promise.resolve({ value: chunk, done: false })
      if (ended) return Promise.resolve({ value: undefined, done: true })
      return new Promise((resolve) => (waiting = resolve))
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}

/** Echoes a chunk; shared by every connection (`this` is the socket). */
function echoChunk(this: net.Socket, chunk: Buffer): void {
  this.write(chunk)
}

/**
 * The framework with no stream layer: a handler on the socket's own 'data' events, done at end of
 * stream. Not in the default comparison; it tells core + transport overhead apart from
 * stream-handlers' (and is what an idle connection costs with no reader or writer).
 */
class SocketEcho extends BaseRequestHandler<net.Socket, InetAddress> {
  override handle(): Promise<void> {
    const socket = this.request
    socket.on('data', echoChunk)
    return new Promise<void>((resolve) => {
      socket.on('end', resolve)
      socket.on('close', resolve)
    })
  }
}

type ServerClass = typeof EventLoopTCPServer | typeof TCPServer

async function startFramework(
  Server: ServerClass,
  Handler: RequestHandlerClass<net.Socket, InetAddress>,
  host: string,
  options: TCPServerOptions = {},
): Promise<RunningServer> {
  const server = await Server.create({ host, port: 0 }, Handler, { requestQueueSize: BACKLOG, ...options })
  return serve(server, server.serverAddress.port)
}

/**
 * The same server with @socketserver/metrics on: subscribed to every channel before the server
 * listens, and a /metrics endpoint (not scraped during the run: scraping is the scraper's cost).
 */
async function withMetrics(
  start: (host: string) => Promise<RunningServer>,
  host: string,
): Promise<RunningServer> {
  const endpoint = await serveMetrics({ host, port: 0 })
  const running = await start(host)
  return {
    ...running,
    close: async () => {
      await running.close()
      await endpoint.close()
    },
  }
}

export const tcpServers = {
  'raw-net': rawNetEcho,
  'raw-net-line': rawNetLine,
  'raw-net-await': rawNetAwait,
  'eventloop-stream': async (host: string) =>
    startFramework(EventLoopTCPServer, (await handlers()).StreamEcho, host),
  'eventloop-stream-await': async (host: string) =>
    startFramework(EventLoopTCPServer, (await handlers()).StreamEchoAwait, host),
  'eventloop-lines': async (host: string) =>
    startFramework(EventLoopTCPServer, (await handlers()).StreamLines, host),
  'eventloop-callback': async (host: string) =>
    startFramework(EventLoopTCPServer, (await handlers()).CallbackEcho, host),
  'eventloop-callback-lines': async (host: string) =>
    startFramework(EventLoopTCPServer, (await handlers()).CallbackLines, host),
  'eventloop-socket': (host: string) => startFramework(EventLoopTCPServer, SocketEcho, host),
  'tcpserver-stream': async (host: string) => startFramework(TCPServer, (await handlers()).StreamEcho, host),
  'eventloop-stream-metrics': async (host: string) =>
    withMetrics(async (h) => startFramework(EventLoopTCPServer, (await handlers()).StreamEcho, h), host),
  'eventloop-line': async (host: string) =>
    startFramework(EventLoopTCPServer, (await handlers()).LineOnce, host),
  'eventloop-line-metrics': async (host: string) =>
    withMetrics(async (h) => startFramework(EventLoopTCPServer, (await handlers()).LineOnce, h), host),
  'eventloop-line-proxy': async (host: string) =>
    startFramework(EventLoopTCPServer, (await handlers()).LineOnce, host, { proxyProtocol: true }),
  'eventloop-stream-proxy': async (host: string) =>
    startFramework(EventLoopTCPServer, (await handlers()).StreamEcho, host, { proxyProtocol: true }),
  'eventloop-hash': async (host: string) => startFramework(EventLoopTCPServer, (await handlers()).Hash, host),
}
