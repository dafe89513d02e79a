import net from 'node:net'
import { BaseRequestHandler, type RequestHandlerClass } from '@socketserver/core'
import { EventLoopTCPServer, type InetAddress, TCPServer } from '@socketserver/transport-tcp'
import type { RunningServer } from './registry.js'

/**
 * Same backlog for every server: node:net's default (511). Python's default of 5 would make the
 * framework drop SYNs when 50 clients connect at once, which is a different question.
 */
const BACKLOG = 511

/** The limit for Node code: the echo every Node tutorial writes. */
export async function rawNetEcho(host: string): Promise<RunningServer> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {}) // a reset peer must not crash the benchmark
    socket.on('data', (d) => socket.write(d))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port: 0, backlog: BACKLOG }, resolve)
  })
  const { port } = server.address() as net.AddressInfo
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        // close() waits for open connections; the harness has closed its own by now.
        setTimeout(resolve, 1_000).unref()
      }),
  }
}

/**
 * The framework with no stream layer: a handler on the socket's own 'data' events. Not in the
 * default comparison; it tells core + transport overhead apart from stream-handlers'.
 */
class SocketEcho extends BaseRequestHandler<net.Socket, InetAddress> {
  override handle(): Promise<void> {
    const socket = this.request
    return new Promise<void>((resolve) => {
      socket.on('data', (d) => socket.write(d))
      socket.once('end', resolve)
      socket.once('close', resolve)
    })
  }
}

type ServerClass = typeof EventLoopTCPServer | typeof TCPServer

async function startFramework(
  Server: ServerClass,
  Handler: RequestHandlerClass<net.Socket, InetAddress>,
  host: string,
): Promise<RunningServer> {
  const server = await Server.create({ host, port: 0 }, Handler, { requestQueueSize: BACKLOG })
  const loop = server.serveForever({ pollInterval: 500 })
  return {
    port: server.serverAddress.port,
    close: async () => {
      await server.shutdownGracefully({ timeout: 1_000 })
      await loop
    },
  }
}

async function streamEcho(style: 'copy' | 'await' = 'copy') {
  // Loaded only by the kinds that need it, so the other servers start without it.
  const { StreamEcho, StreamEchoAwait } = await import('./echo-handler.js')
  return style === 'copy' ? StreamEcho : StreamEchoAwait
}

export const tcpServers = {
  'raw-net': rawNetEcho,
  'eventloop-stream': async (host: string) => startFramework(EventLoopTCPServer, await streamEcho(), host),
  'eventloop-stream-await': async (host: string) =>
    startFramework(EventLoopTCPServer, await streamEcho('await'), host),
  'eventloop-socket': (host: string) => startFramework(EventLoopTCPServer, SocketEcho, host),
  'tcpserver-stream': async (host: string) => startFramework(TCPServer, await streamEcho(), host),
}
