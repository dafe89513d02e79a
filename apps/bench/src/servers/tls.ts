import type net from 'node:net'
import tls from 'node:tls'
import { EventLoopTLSServer, TLSServer } from '@socketserver/transport-tls'
import { benchTLS } from '../tls.js'
import { answerOneLine, BACKLOG, closeRaw, handlers, listenRaw, serve } from './common.js'
import type { RunningServer } from './types.js'

const handlerModule = new URL('./handlers.js', import.meta.url).href

/** The limit for Node code: `tls.createServer` echoing what it decrypts. */
async function rawTLS(host: string, line: boolean): Promise<RunningServer> {
  const { key, cert } = benchTLS()
  const server = tls.createServer({ key, cert }, (socket) => {
    socket.setNoDelay(true)
    socket.on('error', () => {})
    if (!line) {
      socket.on('data', (d) => socket.write(d))
      return
    }
    answerOneLine(socket)
  })
  await listenRaw(server as net.Server, { host, port: 0 })
  return { port: (server.address() as net.AddressInfo).port, close: () => closeRaw(server as net.Server) }
}

type HandlerName = 'StreamEcho' | 'LineOnce'
type Mode = 'eventloop' | 'thread' | 'fork'

async function framework(host: string, mode: Mode, name: HandlerName): Promise<RunningServer> {
  const { key, cert } = benchTLS()
  const Handler = (await handlers())[name]
  const options = { tls: { key, cert }, requestQueueSize: BACKLOG }
  let Server: typeof EventLoopTLSServer | typeof TLSServer = EventLoopTLSServer
  let extra = {}
  if (mode === 'thread') {
    const { ThreadingMixIn } = await import('@socketserver/concurrency-thread')
    Server = class ThreadingTLSServer extends ThreadingMixIn(TLSServer) {}
    extra = { handlerModule }
  } else if (mode === 'fork') {
    const { ForkingMixIn } = await import('@socketserver/concurrency-fork')
    Server = class ForkingTLSServer extends ForkingMixIn(TLSServer) {}
    extra = { handlerModule, env: { PATH: process.env.PATH ?? '' }, execArgv: [] }
  }
  const server = await Server.create({ host, port: 0 }, Handler as never, { ...options, ...extra })
  return serve(server, server.serverAddress.port)
}

export const tlsServers = {
  'raw-tls': (host: string) => rawTLS(host, false),
  'raw-tls-line': (host: string) => rawTLS(host, true),
  'eventloop-tls-stream': (host: string) => framework(host, 'eventloop', 'StreamEcho'),
  'eventloop-tls-line': (host: string) => framework(host, 'eventloop', 'LineOnce'),
  'thread-pool-tls': (host: string) => framework(host, 'thread', 'StreamEcho'),
  'fork-pool-tls': (host: string) => framework(host, 'fork', 'StreamEcho'),
  'thread-pool-tls-line': (host: string) => framework(host, 'thread', 'LineOnce'),
  'fork-pool-tls-line': (host: string) => framework(host, 'fork', 'LineOnce'),
}
