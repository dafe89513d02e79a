import { formatAddress } from '@socketserver/core'
import { EventLoopTCPServer, type InetAddress, TCPServer } from '@socketserver/transport-tcp'
import { createEchoHandler, createEchoStats, type EchoStats } from './echo-handler.js'

export const DEFAULT_HOST = '127.0.0.1'
/** RFC 862 says port 7; that needs root, so the demo uses 7007. */
export const DEFAULT_PORT = 7007
export const DEFAULT_IDLE_TIMEOUT = 300_000
export const DEFAULT_DRAIN_TIMEOUT = 10_000
/** Node's own default backlog; Python's 5 makes a burst of connects wait for SYN retries. */
export const DEFAULT_BACKLOG = 511

/**
 * How connections are served: each mode names the server class to use per transport. The thread and
 * fork modes slot in here (with a `udp`/`unix` class next to `tcp` as those transports arrive).
 */
export const ECHO_MODES = {
  'event-loop': {
    summary: "many connections at once on Node's event loop (recommended)",
    tcp: EventLoopTCPServer as typeof TCPServer,
  },
  sequential: {
    summary: "one connection at a time, in arrival order, like Python's TCPServer",
    tcp: TCPServer,
  },
} satisfies Record<string, { summary: string; tcp: typeof TCPServer }>

export type EchoMode = keyof typeof ECHO_MODES

export function isEchoMode(name: string): name is EchoMode {
  return Object.hasOwn(ECHO_MODES, name)
}

/** One address to listen on. A list of them, so that UDP and Unix listeners can join TCP in one process. */
export type ListenerSpec = { transport: 'tcp'; host: string; port: number }

export interface EchoListener {
  transport: 'tcp'
  server: TCPServer
  /** The real bound address (port 0 resolved). */
  address: InetAddress
  /** E.g. `tcp 127.0.0.1:7007` or `tcp [::1]:7007`. */
  label: string
}

export interface EchoServerOptions {
  /** Where to listen. Default: one TCP listener on `host`:`port`. */
  listeners?: ListenerSpec[]
  /** Host of the default listener. Default: `'127.0.0.1'`. */
  host?: string
  /** Port of the default listener; 0 picks any free port. Default: `7007`. */
  port?: number
  /** Default: `'event-loop'`. */
  mode?: EchoMode
  /** Close a connection that sends nothing for this long, in ms; `0` or `null` never. Default: `300000`. */
  idleTimeout?: number | null
  /** Listen backlog. Default: `511`. */
  backlog?: number
  /** How often each serve loop wakes when idle, in ms. Default: `500`. */
  pollInterval?: number
}

export interface EchoServer {
  readonly mode: EchoMode
  readonly listeners: readonly EchoListener[]
  readonly servers: readonly TCPServer[]
  readonly stats: EchoStats
  /** Settles when every serve loop has stopped; rejects if one failed. */
  readonly serving: Promise<void>
  /** Connections being handled or waiting for a sequential server. */
  readonly openConnections: number
  /** Closes every listening socket now (new connects are refused); open connections carry on. */
  stopAccepting(): void
  /** Stops accepting, lets open connections finish for up to `timeout` ms, then closes the rest. */
  shutdownGracefully(options?: { timeout?: number }): Promise<{ aborted: number }>
  /** Stops at once, closing every open connection. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Binds every listener and starts serving; if one cannot bind, closes the others and rejects. */
export async function startEchoServer(options: EchoServerOptions = {}): Promise<EchoServer> {
  const {
    host = DEFAULT_HOST,
    port = DEFAULT_PORT,
    listeners: specs = [{ transport: 'tcp', host, port }],
    mode = 'event-loop',
    idleTimeout = DEFAULT_IDLE_TIMEOUT,
    backlog = DEFAULT_BACKLOG,
    pollInterval,
  } = options
  if (!isEchoMode(mode)) throw new TypeError(`unknown mode ${JSON.stringify(mode)}`)
  if (specs.length === 0) throw new TypeError('at least one listener is needed')
  const stats = createEchoStats()
  const Handler = createEchoHandler({ idleTimeout, stats })
  const listeners: EchoListener[] = []
  try {
    for (const spec of specs) {
      const server = await ECHO_MODES[mode][spec.transport].create(
        { host: spec.host, port: spec.port },
        Handler,
        {
          requestQueueSize: backlog,
        },
      )
      const address = server.serverAddress
      listeners.push({
        transport: spec.transport,
        server,
        address,
        label: `${spec.transport} ${formatAddress(address)}`,
      })
    }
  } catch (error) {
    await Promise.all(listeners.map(({ server }) => server.serverClose()))
    throw error
  }
  const servers = listeners.map((l) => l.server)
  const serving = Promise.all(servers.map((server) => server.serveForever({ pollInterval }))).then(() => {})
  serving.catch(() => {}) // the caller sees it through `serving`; never an unhandled rejection

  const shutdownGracefully = async ({ timeout = DEFAULT_DRAIN_TIMEOUT } = {}) => {
    const results = await Promise.all(servers.map((server) => server.shutdownGracefully({ timeout })))
    await serving.catch(() => {})
    return { aborted: results.reduce((sum, r) => sum + r.aborted, 0) }
  }
  const close = async () => {
    await shutdownGracefully({ timeout: 0 })
  }
  return {
    mode,
    listeners,
    servers,
    stats,
    serving,
    get openConnections() {
      return servers.reduce((sum, s) => sum + s.activeRequestCount + s.queuedRequestCount, 0)
    },
    stopAccepting() {
      // serverClose() closes the listening socket synchronously; what it resolves with (open
      // connections finished) is awaited by shutdownGracefully().
      for (const server of servers) server.serverClose().catch(() => {})
    },
    shutdownGracefully,
    close,
    [Symbol.asyncDispose]: close,
  }
}
