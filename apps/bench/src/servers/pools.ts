import os from 'node:os'
import { TCPServer } from '@socketserver/transport-tcp'
import { BACKLOG, handlers, serve } from './common.js'
import type { RunningServer } from './types.js'

/**
 * The thread pool (`ThreadingMixIn`) and the fork pool (`ForkingMixIn`) on `TCPServer`: handlers
 * run in worker threads or child processes, which import them from `dist/handlers.js`.
 */
const handlerModule = new URL('./handlers.js', import.meta.url).href
/** One worker per core, as both mix-ins default to; stated so the table can say it. */
export const POOL_SIZE = os.availableParallelism()

type HandlerName = 'StreamEcho' | 'Hash' | 'LineOnce'

async function threadPool(host: string, name: HandlerName): Promise<RunningServer> {
  const { ThreadingMixIn } = await import('@socketserver/concurrency-thread')
  const Handler = (await handlers())[name]
  class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
  const server = await ThreadingTCPServer.create({ host, port: 0 }, Handler, {
    handlerModule,
    threads: POOL_SIZE,
    requestQueueSize: BACKLOG,
  })
  return serve(server, server.serverAddress.port)
}

async function forkPool(
  host: string,
  name: HandlerName,
  forkMode: 'pool' | 'per-request' = 'pool',
): Promise<RunningServer> {
  const { ForkingMixIn } = await import('@socketserver/concurrency-fork')
  const Handler = (await handlers())[name]
  class ForkingTCPServer extends ForkingMixIn(TCPServer) {}
  const server = await ForkingTCPServer.create({ host, port: 0 }, Handler, {
    handlerModule,
    processes: POOL_SIZE,
    forkMode,
    requestQueueSize: BACKLOG,
    // The children get the hash calibration and PATH, nothing else of this environment; no
    // profiler flags (several children would write the same profile).
    env: { PATH: process.env.PATH ?? '', HASH_ROUNDS: process.env.HASH_ROUNDS ?? '' },
    execArgv: [],
  })
  return serve(server, server.serverAddress.port)
}

export const poolServers = {
  'thread-pool': (host: string) => threadPool(host, 'StreamEcho'),
  'fork-pool': (host: string) => forkPool(host, 'StreamEcho'),
  'thread-pool-hash': (host: string) => threadPool(host, 'Hash'),
  'fork-pool-hash': (host: string) => forkPool(host, 'Hash'),
  'thread-pool-line': (host: string) => threadPool(host, 'LineOnce'),
  'fork-pool-line': (host: string) => forkPool(host, 'LineOnce'),
  'fork-per-request-line': (host: string) => forkPool(host, 'LineOnce', 'per-request'),
}
