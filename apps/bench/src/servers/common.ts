/**
 * What more than one transport file uses (the backlog, node:net listen/close, the raw echo, serving
 * a framework server, loading the handlers). Kept apart from the transport files so that each of
 * them imports only this and types.ts, and registry.ts is the only module that imports them.
 */
import net from 'node:net'
import type { RunningServer } from './types.js'

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

/** The raw request-per-connection peer: read one line, write it back, end (no framework). */
export function answerOneLine(socket: net.Socket): void {
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

/** Loaded only by the kinds that need them, so the other servers start without stream-handlers. */
export const handlers = () => import('./handlers.js')
