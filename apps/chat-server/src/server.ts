import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TlsOptions } from 'node:tls'
import {
  type BaseServer,
  formatAddress,
  type InetAddress,
  type InheritedSocket,
  type ProxyProtocolSetting,
} from '@socketserver/core'
import {
  defaultChildEnv,
  ForkingTCPServer,
  ForkingTLSServer,
  ThreadingTCPServer,
  ThreadingTLSServer,
} from '@socketserver/socketserver'
import { EventLoopTCPServer } from '@socketserver/transport-tcp'
import { EventLoopTLSServer } from '@socketserver/transport-tls'
import { type ChatHub, connectBus, startChatHub } from './bus/index.js'
import { type ChatLimits, type ChatStats, createChatStats } from './handler.js'
import { type ChatHandlers, createChatHandlers } from './handlers.js'
import { ChatNode } from './node.js'
import {
  BUS_ENV,
  LIMITS_ENV,
  PooledIrcChatHandler,
  PooledLineChatHandler,
  REDIS_PREFIX_ENV,
  SERVER_NAME_ENV,
} from './pooled-handlers.js'

export const DEFAULT_HOST = '127.0.0.1'
/** The line protocol's port. */
export const DEFAULT_PORT = 6600
/** IRC's customary port. */
export const DEFAULT_IRC_PORT = 6667
/** IRC over TLS's customary port (RFC 7194); served only when asked for (`ircTlsPort`). */
export const IRC_TLS_PORT = 6697
export const DEFAULT_DRAIN_TIMEOUT = 2_000

/**
 * How connections are served. Sequential mode (one connection at a time) is left out: a chat is
 * many people connected at once.
 */
export const CHAT_MODES = {
  'event-loop': {
    summary: "every user on Node's event loop in this process (recommended)",
    Server: EventLoopTCPServer,
    TLSServer: EventLoopTLSServer,
  },
  thread: {
    summary: 'users spread over a pool of worker threads, which share the chat through the bus',
    Server: ThreadingTCPServer,
    TLSServer: ThreadingTLSServer,
    poolSize: 'threads',
  },
  fork: {
    summary: 'users spread over a pool of child processes, which share the chat through the bus',
    Server: ForkingTCPServer,
    TLSServer: ForkingTLSServer,
    poolSize: 'processes',
  },
} as const

export type ChatMode = keyof typeof CHAT_MODES

export function isChatMode(name: string): name is ChatMode {
  return Object.hasOwn(CHAT_MODES, name)
}

/** `+tls`: the same protocol over TLS. */
export type ChatProtocol = 'line' | 'irc' | 'line+tls' | 'irc+tls'

export interface ChatListener {
  protocol: ChatProtocol
  server: BaseServer<any, any, any>
  address: InetAddress
  /** E.g. `line 127.0.0.1:6600`. */
  label: string
}

export interface ChatServerOptions {
  /** Address both listeners bind. Default: `'127.0.0.1'`. */
  host?: string
  /** Port of the line protocol; 0 picks a free port, `null` serves it only over TLS (`tlsPort`) or not at all. Default: `6600`. */
  port?: number | null
  /** Port of the IRC protocol; 0 picks a free port, `null` serves no IRC. Default: `6667`. */
  ircPort?: number | null
  /**
   * Serve on listening sockets passed to the process (systemd's socket activation, a restart)
   * instead of binding `port` and `ircPort`: each names its protocol. Default: bind.
   */
  sockets?: ReadonlyArray<{ protocol: ChatProtocol; inherited: InheritedSocket }>
  /** Port of the line protocol over TLS; 0 picks a free port. Default: `null` (none). Needs `tls`. */
  tlsPort?: number | null
  /** Port of IRC over TLS (customarily 6697); 0 picks a free port. Default: `null` (none). Needs `tls`. */
  ircTlsPort?: number | null
  /** The TLS listeners' `tls` option (`key`, `cert`, ...): what `tls.createServer()` takes. */
  tls?: TlsOptions
  /** Default: `'event-loop'`. */
  mode?: ChatMode
  /**
   * Where the chat's shared state lives: `'memory'` (this process; worker threads and child
   * processes reach it through a hub on a Unix socket) or `redis://host:port` (shared by every
   * chat server on that Redis). Default: `'memory'`.
   */
  bus?: string
  /** Key and channel prefix on Redis; chat servers with the same prefix are one chat. Default: `'chat:'`. */
  redisPrefix?: string
  /** Per-client limits. Default: `DEFAULT_LIMITS`. */
  limits?: Partial<ChatLimits>
  /** Worker threads or child processes in the pooled modes. Default: `os.availableParallelism()`. */
  workers?: number
  /** The server's name in IRC replies. Default: `'socketserver.chat'`. */
  serverName?: string
  /**
   * Behind a load balancer: read a PROXY protocol header on each connection (see the TCP server's
   * `proxyProtocol`), so WHO, WHOIS and the per-address limits see the users' own addresses.
   * Default: `false`.
   */
  proxyProtocol?: ProxyProtocolSetting
}

export interface ChatServer {
  readonly mode: ChatMode
  readonly bus: string
  readonly listeners: readonly ChatListener[]
  readonly servers: readonly BaseServer<any, any, any>[]
  /** This process's node and counters; in the pooled modes the users live in the workers instead. */
  readonly node: ChatNode | null
  readonly stats: ChatStats
  /** Settles when every serve loop has stopped; rejects if one failed. */
  readonly serving: Promise<void>
  /** Closes the listening sockets: new connections are refused; users stay connected. */
  stopAccepting(): void
  /**
   * Stops accepting, tells every user the server is going away and disconnects them (event-loop
   * mode; in the pooled modes connections are closed when `timeout` ms have passed), then closes.
   */
  shutdownGracefully(options?: { timeout?: number }): Promise<{ disconnected: number; aborted: number }>
  /** Stops at once, closing every connection. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Binds both listeners and starts serving; if one cannot bind, closes everything and rejects. */
export async function startChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  const {
    host = DEFAULT_HOST,
    port = DEFAULT_PORT,
    ircPort = DEFAULT_IRC_PORT,
    tlsPort = null,
    ircTlsPort = null,
    tls,
    mode = 'event-loop',
    bus = 'memory',
    redisPrefix,
    limits = {},
    workers,
    serverName,
    sockets,
    proxyProtocol = false,
  } = options
  if (!isChatMode(mode)) throw new TypeError(`unknown mode ${JSON.stringify(mode)}`)
  if (!tls && (tlsPort !== null || ircTlsPort !== null))
    throw new TypeError('TLS listeners need the tls option (key and cert)')
  const pooled = mode !== 'event-loop'
  let hub: ChatHub | undefined
  let node: ChatNode | null = null
  let handlers: ChatHandlers
  let serverOptions: Record<string, unknown> = {}
  const listeners: ChatListener[] = []
  try {
    if (pooled) {
      // Workers and children share nothing with this process: they connect to the bus themselves.
      let busSpec = bus
      if (bus === 'memory') {
        hub = await startChatHub(
          join(tmpdir(), `socketserver-chat-${process.pid}-${randomBytes(4).toString('hex')}.sock`),
        )
        busSpec = `hub:${hub.path}`
      }
      const env = {
        [BUS_ENV]: busSpec,
        [LIMITS_ENV]: JSON.stringify(limits),
        ...(serverName && { [SERVER_NAME_ENV]: serverName }),
        ...(redisPrefix && { [REDIS_PREFIX_ENV]: redisPrefix }),
      }
      Object.assign(process.env, env) // worker threads copy process.env when they start
      handlers = {
        LineHandler: PooledLineChatHandler,
        IrcHandler: PooledIrcChatHandler,
        stats: createChatStats(),
      }
      serverOptions = {
        handlerModule: new URL('./pooled-handlers.js', import.meta.url).href,
        // Children get only the environment named here; threads copy process.env (above).
        ...(mode === 'fork' && { env: { ...defaultChildEnv(), ...env } }),
        ...(workers !== undefined && { [CHAT_MODES[mode].poolSize]: workers }),
      }
    } else {
      node = new ChatNode(await connectBus(bus, { prefix: redisPrefix }))
      handlers = createChatHandlers({ node, limits, serverName })
    }
    serverOptions.proxyProtocol = proxyProtocol
    const { Server, TLSServer } = CHAT_MODES[mode]
    const handlerOf = {
      line: handlers.LineHandler,
      irc: handlers.IrcHandler,
      'line+tls': handlers.LineHandler,
      'irc+tls': handlers.IrcHandler,
    }
    const wanted: [ChatProtocol, number | null, InheritedSocket | undefined][] = sockets
      ? sockets.map(({ protocol, inherited }) => [protocol, 0, inherited])
      : [
          ['line', port, undefined],
          ['irc', ircPort, undefined],
          ['line+tls', tlsPort, undefined],
          ['irc+tls', ircTlsPort, undefined],
        ]
    for (const [protocol, listenPort, inherited] of wanted) {
      if (listenPort === null) continue
      const secure = protocol.endsWith('+tls')
      const server = await ((secure ? TLSServer : Server) as typeof EventLoopTCPServer).create(
        { host, port: listenPort },
        handlerOf[protocol] as never,
        { ...serverOptions, ...(secure && { tls }), ...(inherited && { inherited }) },
      )
      const address = server.serverAddress as InetAddress
      listeners.push({ protocol, server, address, label: `${protocol} ${formatAddress(address)}` })
    }
  } catch (error) {
    await Promise.all(listeners.map(({ server }) => server.serverClose()))
    await node?.bus.close()
    await hub?.close()
    throw error
  }
  const servers = listeners.map((l) => l.server)
  const serving = Promise.all(servers.map((server) => server.serveForever())).then(() => {})
  serving.catch(() => {}) // the caller sees it through `serving`

  let closed: Promise<void> | undefined
  const release = () =>
    (closed ??= (async () => {
      await Promise.all(servers.map((server) => server.serverClose()))
      await node?.bus.close()
      await hub?.close()
    })())
  // serverClose() closes the listening socket synchronously; what it resolves with (open
  // connections finished) is awaited by shutdownGracefully().
  const stopAccepting = () => {
    for (const server of servers) server.serverClose().catch(() => {})
  }
  const shutdownGracefully = async ({ timeout = DEFAULT_DRAIN_TIMEOUT } = {}) => {
    stopAccepting()
    const disconnected = node?.disconnectAll('server shutting down') ?? 0
    const results = await Promise.all(servers.map((server) => server.shutdownGracefully({ timeout })))
    await release()
    return { disconnected, aborted: results.reduce((sum, r) => sum + r.aborted, 0) }
  }
  const close = async () => {
    await Promise.all(servers.map((server) => server.shutdown()))
    for (const server of servers) server.abortRequests()
    await release()
  }
  return {
    mode,
    bus,
    listeners,
    servers,
    node,
    stats: handlers.stats,
    serving,
    stopAccepting,
    shutdownGracefully,
    close,
    [Symbol.asyncDispose]: close,
  }
}
