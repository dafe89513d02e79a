import {
  type BaseServer,
  type BindError,
  formatAddress,
  type InetAddress,
  type InheritedSocket,
} from '@socketserver/core'
import {
  DEFAULT_BURST,
  DEFAULT_RATE,
  ReflectionGuard,
  WELL_KNOWN_SERVICE_PORTS,
} from '@socketserver/transport-udp'
import {
  createHandlers,
  createTimeStats,
  GuardedUDPServer,
  type TimeStats,
  TimeTCPServer,
} from './services.js'
import type { SntpServerConfig } from './sntp.js'
import { type Clock, systemClock } from './time.js'

export const DEFAULT_HOST = '127.0.0.1'
/** The standard ports (37, 13, 123) need root; the demo adds 10000. */
export const DEFAULT_TIME_PORT = 10_037
export const DEFAULT_DAYTIME_PORT = 10_013
export const DEFAULT_SNTP_PORT = 10_123
export const DEFAULT_DRAIN_TIMEOUT = 5_000

export type ServiceName = 'time' | 'daytime' | 'sntp'

export const SERVICES: Record<ServiceName, string> = {
  time: 'RFC 868',
  daytime: 'RFC 867',
  sntp: 'RFC 4330',
}

export interface TimeListener {
  service: ServiceName
  transport: 'tcp' | 'udp'
  server: BaseServer<any, InetAddress, InetAddress>
  /** The real bound address (port 0 resolved). */
  address: InetAddress
  /** E.g. `udp 127.0.0.1:10123 (sntp, RFC 4330)`. */
  label: string
}

export interface TimeServerOptions {
  /** Address every service listens on. Default: `'127.0.0.1'` (loopback: see the README before exposing UDP services). */
  host?: string
  /** RFC 868 time port, TCP and UDP; 0 picks a free port (the same for both). Default: `10037`. */
  timePort?: number
  /** RFC 867 daytime port, TCP and UDP; 0 picks a free port. Default: `10013`. */
  daytimePort?: number
  /** SNTP port (UDP); 0 picks a free port. Default: `10123`. */
  sntpPort?: number
  /**
   * Serve on sockets passed to the process (systemd's socket activation, a restart) instead of
   * binding ports: each names its service and transport (SNTP is UDP only). Default: bind.
   */
  sockets?: ReadonlyArray<{ service: ServiceName; transport: 'tcp' | 'udp'; inherited: InheritedSocket }>
  /** Where the time comes from, in ms since the Unix epoch. Default: `Date.now`. */
  clock?: Clock
  /**
   * UDP datagrams answered per source address: `rate` per second after a `burst` (token bucket),
   * shared by the three UDP services; `false` answers everything. Default: `{ rate: 5, burst: 10 }`.
   */
  rateLimit?: { rate?: number; burst?: number; maxTracked?: number; now?: () => number } | false
  /** Source ports whose datagrams are never answered. Default: `[7, 13, 19, 37, 123]`. */
  blockedSourcePorts?: Iterable<number>
  /** What the SNTP replies announce. */
  sntp?: SntpServerConfig
  /** How often each serve loop wakes when idle, in ms. Default: `500`. */
  pollInterval?: number
}

export interface TimeServer {
  readonly listeners: readonly TimeListener[]
  readonly servers: readonly BaseServer<any, any, any>[]
  readonly stats: TimeStats
  /** Settles when every serve loop has stopped; rejects if one failed. */
  readonly serving: Promise<void>
  /** Where `service` listens over `transport`. */
  address(service: ServiceName, transport?: 'tcp' | 'udp'): InetAddress
  /** Stops taking connections and datagrams now; requests in flight carry on. */
  stopAccepting(): void
  /** Stops, lets requests in flight finish for up to `timeout` ms, then cuts the rest short. */
  shutdownGracefully(options?: { timeout?: number }): Promise<{ aborted: number }>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Binds every service and starts serving; if one cannot bind, closes the others and rejects. */
export async function startTimeServer(options: TimeServerOptions = {}): Promise<TimeServer> {
  const {
    host = DEFAULT_HOST,
    timePort = DEFAULT_TIME_PORT,
    daytimePort = DEFAULT_DAYTIME_PORT,
    sntpPort = DEFAULT_SNTP_PORT,
    clock = systemClock,
    rateLimit = {},
    blockedSourcePorts = WELL_KNOWN_SERVICE_PORTS,
    sntp,
    pollInterval,
    sockets,
  } = options
  const stats = createTimeStats()
  const handlers = createHandlers({ clock, stats, sntp })
  const guard = new ReflectionGuard({
    blockedSourcePorts,
    rateLimit: rateLimit !== false,
    rate: DEFAULT_RATE,
    burst: DEFAULT_BURST,
    ...(rateLimit || {}),
    counters: stats.dropped,
  })
  // Requests are a few bytes; 1 KiB holds any SNTP request with extension fields we ignore anyway.
  const udpOptions = { guard, maxPacketSize: 1024 }

  const listeners: TimeListener[] = []
  const add = (service: ServiceName, transport: 'tcp' | 'udp', server: TimeListener['server']) => {
    const address = server.serverAddress
    const label = `${transport} ${formatAddress(address)} (${service}, ${SERVICES[service]})`
    listeners.push({ service, transport, server, address, label })
  }
  const handlerOf = {
    time: { tcp: handlers.TimeTcp, udp: handlers.TimeUdp },
    daytime: { tcp: handlers.DaytimeTcp, udp: handlers.DaytimeUdp },
    sntp: { tcp: undefined, udp: handlers.Sntp },
  }
  try {
    for (const { service, transport, inherited } of sockets ?? []) {
      const Handler = handlerOf[service][transport]
      if (!Handler)
        throw new TypeError(`${service} is served over UDP only; a ${transport} socket was given for it`)
      add(
        service,
        transport,
        transport === 'tcp'
          ? await TimeTCPServer.create({ host: '0.0.0.0', port: 0 }, Handler as never, { inherited })
          : await GuardedUDPServer.create({ host: '0.0.0.0', port: 0 }, Handler as never, {
              ...udpOptions,
              inherited,
            }),
      )
    }
    for (const [service, port, Tcp, Udp] of sockets
      ? []
      : ([
          ['time', timePort, handlers.TimeTcp, handlers.TimeUdp],
          ['daytime', daytimePort, handlers.DaytimeTcp, handlers.DaytimeUdp],
        ] as const)) {
      const [tcp, udp] = await bindPair(host, port, Tcp, Udp, udpOptions)
      add(service, 'tcp', tcp)
      add(service, 'udp', udp)
    }
    if (!sockets)
      add('sntp', 'udp', await GuardedUDPServer.create({ host, port: sntpPort }, handlers.Sntp, udpOptions))
  } catch (error) {
    await Promise.all(listeners.map(({ server }) => server.serverClose()))
    throw error
  }

  const servers = listeners.map((l) => l.server)
  const serving = Promise.all(servers.map((server) => server.serveForever({ pollInterval }))).then(() => {})
  serving.catch(() => {}) // the caller sees it through `serving`

  const shutdownGracefully = async ({ timeout = DEFAULT_DRAIN_TIMEOUT } = {}) => {
    const results = await Promise.all(servers.map((server) => server.shutdownGracefully({ timeout })))
    await serving.catch(() => {})
    return { aborted: results.reduce((sum, r) => sum + r.aborted, 0) }
  }
  const close = async () => {
    await shutdownGracefully({ timeout: 0 })
  }
  return {
    listeners,
    servers,
    stats,
    serving,
    address(service, transport = service === 'sntp' ? 'udp' : 'tcp') {
      const listener = listeners.find((l) => l.service === service && l.transport === transport)
      if (!listener) throw new RangeError(`no ${transport} listener for ${service}`)
      return listener.address
    },
    stopAccepting() {
      for (const server of servers) server.serverClose().catch(() => {})
    },
    shutdownGracefully,
    close,
    [Symbol.asyncDispose]: close,
  }
}

/**
 * Binds a TCP and a UDP server on one port number, as /etc/services pairs them. With port 0 the
 * kernel picks the TCP port; if that port is taken for UDP, it tries another.
 */
async function bindPair(
  host: string,
  port: number,
  Tcp: new (...args: any[]) => any,
  Udp: new (...args: any[]) => any,
  udpOptions: ConstructorParameters<typeof GuardedUDPServer>[2],
): Promise<[TimeTCPServer, GuardedUDPServer]> {
  for (let attempt = 1; ; attempt++) {
    // Node's default backlog: Python's 5 makes a burst of connects wait for SYN retries.
    const tcp = await TimeTCPServer.create({ host, port }, Tcp)
    try {
      return [tcp, await GuardedUDPServer.create({ host, port: tcp.serverAddress.port }, Udp, udpOptions)]
    } catch (error) {
      await tcp.serverClose()
      if (port !== 0 || attempt >= 20 || (error as BindError).errno !== 'EADDRINUSE') throw error
    }
  }
}
