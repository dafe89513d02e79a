import net from 'node:net'
import { BaseRequestHandler, type RequestHandlerClass } from '@socketserver/core'
import { EventLoopTCPServer, type InetAddress, TCPServer } from '@socketserver/transport-tcp'
import type { RunningServer } from './registry.js'

/**
 * Same backlog for every server: node:net's default (511). Python's default of 5 would make the
 * framework drop SYNs when 50 clients connect at once, which is a different question.
 */
export const BACKLOG = 511

export async function listenRaw(server: net.Server, where: net.ListenOptions): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ ...where, backlog: BACKLOG }, resolve)
  })
}

export function closeRaw(server: net.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve())
    // close() waits for open connections; the harness has closed its own by now.
    setTimeout(resolve, 1_000).unref()
  })
}

/** The limit for Node code: the echo every Node tutorial writes. */
export function rawEchoServer(): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => {}) // a reset peer must not crash the benchmark
    socket.on('data', (d) => socket.write(d))
  })
}

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
    let pending: Buffer | undefined
    const onData = (d: Buffer) => {
      const data = pending ? Buffer.concat([pending, d]) : d
      const nl = data.indexOf(10)
      if (nl < 0) {
        pending = data
        return
      }
      socket.off('data', onData)
      socket.end(data.subarray(0, nl + 1))
    }
    socket.on('data', onData)
  })
  await listenRaw(server, { host, port: 0 })
  return { port: (server.address() as net.AddressInfo).port, close: () => closeRaw(server) }
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

interface Closable {
  serveForever(options?: { pollInterval?: number }): Promise<void>
  shutdownGracefully(options?: { timeout?: number }): Promise<unknown>
}

/** Serves `server` and returns it as the child entry point needs it. */
export function serve(server: Closable, port: number, path?: string): RunningServer {
  const loop = server.serveForever({ pollInterval: 500 })
  return {
    port,
    ...(path === undefined ? {} : { path }),
    close: async () => {
      await server.shutdownGracefully({ timeout: 1_000 })
      await loop
    },
  }
}

type ServerClass = typeof EventLoopTCPServer | typeof TCPServer

async function startFramework(
  Server: ServerClass,
  Handler: RequestHandlerClass<net.Socket, InetAddress>,
  host: string,
): Promise<RunningServer> {
  const server = await Server.create({ host, port: 0 }, Handler, { requestQueueSize: BACKLOG })
  return serve(server, server.serverAddress.port)
}

/** Loaded only by the kinds that need them, so the other servers start without stream-handlers. */
export const handlers = () => import('./handlers.js')

export const tcpServers = {
  'raw-net': rawNetEcho,
  'raw-net-line': rawNetLine,
  'eventloop-stream': async (host: string) =>
    startFramework(EventLoopTCPServer, (await handlers()).StreamEcho, host),
  'eventloop-stream-await': async (host: string) =>
    startFramework(EventLoopTCPServer, (await handlers()).StreamEchoAwait, host),
  'eventloop-socket': (host: string) => startFramework(EventLoopTCPServer, SocketEcho, host),
  'tcpserver-stream': async (host: string) => startFramework(TCPServer, (await handlers()).StreamEcho, host),
  'eventloop-line': async (host: string) =>
    startFramework(EventLoopTCPServer, (await handlers()).LineOnce, host),
  'eventloop-hash': async (host: string) => startFramework(EventLoopTCPServer, (await handlers()).Hash, host),
}
