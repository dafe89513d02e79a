import type { TlsOptions } from 'node:tls'
import {
  type BaseServer,
  channels,
  formatAddress,
  type InetAddress,
  type InheritedSocket,
  type ProxyProtocolSetting,
} from '@socketserver/core'
import {
  defaultChildEnv,
  ForkingTCPServer,
  ForkingTLSServer,
  ForkingUDPServer,
  ForkingUnixDatagramServer,
  ForkingUnixStreamServer,
  ThreadingTCPServer,
  ThreadingTLSServer,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
  ThreadingUnixStreamServer,
} from '@socketserver/socketserver'
import { EventLoopTCPServer, TCPServer } from '@socketserver/transport-tcp'
import { EventLoopTLSServer, TLSServer } from '@socketserver/transport-tls'
import { EventLoopUDPServer, ReflectionGuard, UDPServer } from '@socketserver/transport-udp'
import {
  EventLoopUnixDatagramServer,
  EventLoopUnixStreamServer,
  UnixDatagramServer,
  UnixStreamServer,
} from '@socketserver/transport-unix'
import {
  createDatagramEchoHandler,
  createEchoHandler,
  createEchoStats,
  type EchoStats,
} from './echo-handler.js'
import { IDLE_TIMEOUT_ENV, PooledDatagramEchoHandler, PooledEchoHandler } from './pooled-handlers.js'

export const DEFAULT_HOST = '127.0.0.1'
/** RFC 862 says port 7; that needs root, so the demo uses 7007. */
export const DEFAULT_PORT = 7007
export const DEFAULT_IDLE_TIMEOUT = 300_000
export const DEFAULT_DRAIN_TIMEOUT = 10_000

export type Transport = 'tcp' | 'tls' | 'udp' | 'unix' | 'unix-dgram'

// Any server class of ours: `create(address, Handler, options)` resolving with a listening server.
type ServerClass = {
  create(address: any, Handler: any, options?: any): Promise<BaseServer<any, any, any>>
} & (abstract new (
  ...args: any[]
) => BaseServer<any, any, any>)

/**
 * How requests are served: each mode names the server class to use per transport. The thread and
 * fork modes slot in here.
 */
export const ECHO_MODES = {
  'event-loop': {
    summary: "many connections at once on Node's event loop (recommended)",
    tcp: EventLoopTCPServer,
    tls: EventLoopTLSServer,
    udp: EventLoopUDPServer,
    unix: EventLoopUnixStreamServer,
    'unix-dgram': EventLoopUnixDatagramServer,
  },
  sequential: {
    summary: "one connection or datagram at a time, in arrival order, like Python's servers",
    tcp: TCPServer,
    tls: TLSServer,
    udp: UDPServer,
    unix: UnixStreamServer,
    'unix-dgram': UnixDatagramServer,
  },
  thread: {
    summary: 'a pool of worker threads, one per core, each serving many connections',
    tcp: ThreadingTCPServer,
    tls: ThreadingTLSServer,
    udp: ThreadingUDPServer,
    unix: ThreadingUnixStreamServer,
    'unix-dgram': ThreadingUnixDatagramServer,
  },
  fork: {
    summary: 'a pool of child processes, one per core, each serving many connections',
    tcp: ForkingTCPServer,
    tls: ForkingTLSServer,
    udp: ForkingUDPServer,
    unix: ForkingUnixStreamServer,
    'unix-dgram': ForkingUnixDatagramServer,
  },
} satisfies Record<string, { summary: string } & Record<Transport, ServerClass>>

/** Modes whose handlers run in other threads or processes: they load them from pooled-handlers. */
const POOLED: ReadonlySet<string> = new Set(['thread', 'fork'])

export type EchoMode = keyof typeof ECHO_MODES

export function isEchoMode(name: string): name is EchoMode {
  return Object.hasOwn(ECHO_MODES, name)
}

/**
 * One address to listen on; one process serves a list of them. With `inherited`, a socket passed
 * to the process (systemd's socket activation, a restart) is adopted instead, and the address is
 * only a placeholder; `name` is its descriptor name.
 */
export type ListenerSpec = (
  | { transport: 'tcp' | 'tls' | 'udp'; host: string; port: number }
  | { transport: 'unix' | 'unix-dgram'; path: string }
) & { inherited?: InheritedSocket; name?: string }

export interface EchoListener {
  transport: Transport
  server: BaseServer<any, any, any>
  /** The real bound address (port 0 resolved), or the socket path. */
  address: InetAddress | string
  /** E.g. `tcp 127.0.0.1:7007`, `udp [::1]:7007` or `unix "/run/echo.sock"`. */
  label: string
  /** Its descriptor name when handed to a new process (a restart): the passed socket's, or the transport. */
  name: string
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
  /** Listen backlog. Default: core's `requestQueueSize` (511). */
  backlog?: number
  /**
   * UDP echo answers per source address: `rate` per second after a `burst`, and never to the
   * well-known service ports (7, 13, 19, 37, 123), so two echo servers cannot ping-pong forever.
   * Default: `{ rate: 100, burst: 200 }`.
   */
  udpRateLimit?: { rate?: number; burst?: number }
  /** How often each serve loop wakes when idle, in ms. Default: `500`. */
  pollInterval?: number
  /** The `tls` option of the `tls` listeners (`key`, `cert`, ...): what `tls.createServer()` takes. */
  tls?: TlsOptions
  /**
   * Behind a load balancer: the `tcp` and `tls` listeners read a PROXY protocol header on each
   * connection (see the TCP server's `proxyProtocol`), so `clientAddress` is the client's own.
   * Default: `false`.
   */
  proxyProtocol?: ProxyProtocolSetting
}

export interface EchoServer {
  readonly mode: EchoMode
  readonly listeners: readonly EchoListener[]
  readonly servers: readonly BaseServer<any, any, any>[]
  readonly stats: EchoStats
  /** The UDP listeners' guard: what it refused, by reason. */
  readonly udpGuard: ReflectionGuard
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
    backlog,
    pollInterval,
    udpRateLimit = {},
    tls,
    proxyProtocol = false,
  } = options
  if (!isEchoMode(mode)) throw new TypeError(`unknown mode ${JSON.stringify(mode)}`)
  if (specs.length === 0) throw new TypeError('at least one listener is needed')
  if (!tls && specs.some((spec) => spec.transport === 'tls'))
    throw new TypeError('tls listeners need the tls option (key and cert)')
  const stats = createEchoStats()
  const pooled = POOLED.has(mode)
  const StreamEcho = pooled ? PooledEchoHandler : createEchoHandler({ idleTimeout, stats })
  const DatagramEcho = pooled ? PooledDatagramEchoHandler : createDatagramEchoHandler({ stats })
  // Workers and children load the handlers from their own module and get the idle timeout through
  // the environment (threads copy process.env; children get only what `env` names).
  const idleEnv = String(idleTimeout ?? 0)
  if (pooled) process.env[IDLE_TIMEOUT_ENV] = idleEnv
  const poolOptions = pooled
    ? {
        handlerModule: new URL('./pooled-handlers.js', import.meta.url).href,
        // Children get only the environment named here; threads copy process.env (above).
        ...(mode === 'fork' && { env: { ...defaultChildEnv(), [IDLE_TIMEOUT_ENV]: idleEnv } }),
      }
    : {}
  const udpGuard = new ReflectionGuard({ rate: 100, burst: 200, ...udpRateLimit })
  const listeners: EchoListener[] = []
  try {
    for (const spec of specs) {
      const Server: ServerClass =
        spec.transport === 'udp' ? guarded(ECHO_MODES[mode].udp, udpGuard) : ECHO_MODES[mode][spec.transport]
      const datagram = spec.transport === 'udp' || spec.transport === 'unix-dgram'
      const server = await Server.create(
        'path' in spec ? spec.path : { host: spec.host, port: spec.port },
        datagram ? DatagramEcho : StreamEcho,
        {
          ...(backlog === undefined ? {} : { requestQueueSize: backlog }),
          ...(spec.inherited && { inherited: spec.inherited }),
          ...(spec.transport === 'tls' ? { tls } : {}),
          ...((spec.transport === 'tcp' || spec.transport === 'tls') && proxyProtocol !== false
            ? { proxyProtocol }
            : {}),
          ...poolOptions,
        },
      )
      const address = server.serverAddress as InetAddress | string
      listeners.push({
        transport: spec.transport,
        server,
        address,
        label: `${spec.transport} ${formatAddress(address)}${spec.inherited ? ` (passed socket${spec.name ? ` '${spec.name}'` : ''})` : ''}`,
        name: spec.name ?? spec.transport,
      })
    }
  } catch (error) {
    await Promise.all(listeners.map(({ server }) => server.serverClose()))
    throw error
  }
  const servers = listeners.map((l) => l.server)
  // Handlers in other threads or processes count nothing here: count requests as they are handed off.
  const countHandOff = ({ server }: { server: unknown }) => {
    const listener = listeners.find((l) => l.server === server)
    if (!listener) return
    if (listener.transport === 'udp' || listener.transport === 'unix-dgram') stats.datagrams++
    else stats.connections++
  }
  const onStart = countHandOff as (message: unknown) => void
  if (pooled) channels.requestStart.subscribe(onStart)
  const serving = Promise.all(servers.map((server) => server.serveForever({ pollInterval }))).then(() => {})
  serving.catch(() => {}) // the caller sees it through `serving`; never an unhandled rejection

  const shutdownGracefully = async ({ timeout = DEFAULT_DRAIN_TIMEOUT } = {}) => {
    const results = await Promise.all(servers.map((server) => server.shutdownGracefully({ timeout })))
    await serving.catch(() => {})
    if (pooled) channels.requestStart.unsubscribe(onStart)
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
    udpGuard,
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

/** A UDP server class whose `verifyRequest()` asks `guard` (source port, rate per source). */
function guarded(Base: typeof UDPServer, guard: ReflectionGuard): ServerClass {
  return class GuardedEchoUDPServer extends Base {
    override verifyRequest(_request: unknown, clientAddress: InetAddress): boolean {
      return guard.allows(clientAddress)
    }
  }
}
