import { AccessDeniedError, type BaseServer, channels } from '@socketserver/core'
import { applyOptionTables, type OptionTable } from '@socketserver/core/transport'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { serverLabel } from './server-label.js'

type AnyServer = BaseServer<any, any, any>

/** Upper bounds of the handler-duration buckets, in seconds: 1 ms to 10 min (a stream request lasts as long as its connection). */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600,
]

/** Options of `ServerMetrics`; each is also a read-only field of the same name. */
export interface ServerMetricsOptions {
  /** The prom-client `Registry` the metrics are registered in. Default: a new `Registry` of their own. */
  registry?: Registry
  /** Prefix of every metric name. Default: `'socketserver_'`. */
  prefix?: string
  /** Upper bounds of the handler-duration histogram's buckets, in seconds, increasing. Default: `DEFAULT_DURATION_BUCKETS`. */
  durationBuckets?: readonly number[]
  /** Also collect prom-client's process metrics (CPU, memory, open files, event-loop lag, GC) into the registry. Default: `false`. */
  processMetrics?: boolean
}

/** What `addServer()` takes. */
export interface AddServerOptions {
  /** The `server` label. Default: the transport and bound address, `tcp:127.0.0.1:7007`. */
  name?: string
}

// One server's counters, bound to its label once: an event does a WeakMap lookup, not a label hash.
interface Tracked {
  readonly label: string
  readonly stream: boolean
  readonly started: Counter.Internal
  readonly ended: Counter.Internal
  readonly connections: Counter.Internal
  readonly duration: Histogram.Internal<'server'>
  readonly received: Counter.Internal
  readonly sent: Counter.Internal
}

const PROMTOOL_REJECTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

/**
 * Prometheus metrics of every `@socketserver` server in this process, fed by the diagnostics
 * channels of `@socketserver/core`. Nothing subscribes until one is constructed; `close()`
 * unsubscribes. Counters are updated as requests go by; queue depth, active requests, open
 * connections and pool workers are read from each server when the registry is scraped.
 *
 * Servers are found when they start listening (`socketserver:server:listening`) or at their first
 * request; `addServer()` names one, or adds one that was listening before this was made.
 */
export class ServerMetrics {
  static readonly options: OptionTable = {
    registry: {
      default: () => new Registry(),
      check: (value) => (value instanceof Registry ? undefined : "a Registry (prom-client's)"),
    },
    prefix: {
      default: 'socketserver_',
      check: (value) =>
        typeof value === 'string' && (value === '' || metricName.test(value))
          ? undefined
          : 'a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)',
    },
    durationBuckets: {
      default: DEFAULT_DURATION_BUCKETS,
      check: (value) =>
        Array.isArray(value) &&
        value.length > 0 &&
        value.every(
          (b, i) => typeof b === 'number' && Number.isFinite(b) && b > 0 && (i === 0 || b > value[i - 1]),
        )
          ? undefined
          : 'a non-empty array of increasing positive numbers (seconds)',
    },
    processMetrics: {
      default: false,
      check: (value) => (typeof value === 'boolean' ? undefined : 'true or false'),
    },
  }

  declare readonly registry: Registry
  declare readonly prefix: string
  declare readonly durationBuckets: readonly number[]
  declare readonly processMetrics: boolean

  readonly #tracked = new WeakMap<AnyServer, Tracked>()
  // Servers whose gauges are read at a scrape; a server leaves once it is closed.
  readonly #live = new Set<AnyServer>()
  readonly #names = new WeakMap<AnyServer, string>()
  readonly #unsubscribe: Array<() => void> = []
  readonly #registered: string[] = []
  readonly #started: Counter<'server'>
  readonly #ended: Counter<'server'>
  readonly #connections: Counter<'server'>
  readonly #duration: Histogram<'server'>
  readonly #received: Counter<'server'>
  readonly #sent: Counter<'server'>
  readonly #errors: Counter<'server' | 'code'>
  readonly #listenerErrors: Counter<'server' | 'code'>
  readonly #dropped: Counter<'server' | 'reason'>
  readonly #refused: Counter<'server' | 'stage' | 'code'>
  readonly #oversized: Counter<'server' | 'action'>
  readonly #workerEvents: Counter<'server' | 'kind' | 'event'>

  constructor(options: ServerMetricsOptions = {}) {
    applyOptionTables(this, ServerMetrics, options)
    const registers = [this.registry]
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      this.#add(new Counter({ name: this.prefix + name, help, labelNames, registers }), this.prefix + name)
    const gauge = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      read: (gauge: Gauge<L>, server: AnyServer, label: string) => void,
    ) => {
      const live = this.#live
      const labelOf = (server: AnyServer) => this.#track(server).label
      return this.#add(
        new Gauge<L>({
          name: this.prefix + name,
          help,
          labelNames,
          registers,
          collect() {
            this.reset()
            for (const server of live) {
              if (server.closed) live.delete(server)
              else read(this, server, labelOf(server))
            }
          },
        }),
        this.prefix + name,
      )
    }
    const server = ['server'] as const

    this.#connections = counter(
      'connections_total',
      'Stream connections accepted: processed, dropped or refused.',
      server,
    )
    this.#started = counter(
      'requests_started_total',
      'Requests handed to processRequest (request:start).',
      server,
    )
    this.#ended = counter('requests_ended_total', 'Requests whose processing settled (request:end).', server)
    this.#errors = counter(
      'request_errors_total',
      'Errors passed to handleError, by error code (or class name).',
      ['server', 'code'],
    )
    this.#listenerErrors = counter(
      'listener_errors_total',
      'Errors of the listening socket the server survived (EMFILE on accept, ...), by code.',
      ['server', 'code'],
    )
    this.#duration = this.#add(
      new Histogram({
        name: `${this.prefix}request_duration_seconds`,
        help: 'Time from request:start to request:end: the handler, and for a stream the whole connection.',
        labelNames: server,
        buckets: [...this.durationBuckets],
        registers,
      }),
      `${this.prefix}request_duration_seconds`,
    )
    this.#received = counter(
      'received_bytes_total',
      'Bytes received by ended requests: stream sockets read in this process, datagrams received.',
      server,
    )
    this.#sent = counter(
      'sent_bytes_total',
      'Bytes stream sockets wrote in this process, counted as they end.',
      server,
    )
    this.#dropped = counter(
      'requests_dropped_total',
      'Requests refused before processing (request:dropped), by reason.',
      ['server', 'reason'],
    )
    this.#refused = counter(
      'connections_refused_total',
      'Connections a connection stage refused (connection:refused), by stage and error code.',
      ['server', 'stage', 'code'],
    )
    this.#oversized = counter(
      'datagrams_oversized_total',
      'Datagrams larger than maxPacketSize, by what was done (truncate or drop).',
      ['server', 'action'],
    )
    this.#workerEvents = counter(
      'pool_worker_events_total',
      'Worker threads and child processes spawned, exited, replaced, timed out.',
      ['server', 'kind', 'event'],
    )
    gauge('requests_active', 'Requests being processed now.', server, (g, s, label) =>
      g.set({ server: label }, s.activeRequestCount),
    )
    gauge('requests_queued', 'Requests received and waiting for the serve loop.', server, (g, s, label) =>
      g.set({ server: label }, s.queuedRequestCount),
    )
    gauge(
      'connections_open',
      'Stream connections held: queued or being processed.',
      server,
      (g, s, label) => {
        if (s.socketType === 'stream') g.set({ server: label }, s.activeRequestCount + s.queuedRequestCount)
      },
    )
    gauge(
      'pool_workers',
      'Live workers of a thread or process pool, busy (handling a request) or idle.',
      ['server', 'kind', 'state'],
      (g, s, label) => {
        const pool = poolOf(s)
        if (!pool) return
        g.set({ server: label, kind: pool.kind, state: 'busy' }, pool.busy)
        g.set({ server: label, kind: pool.kind, state: 'idle' }, Math.max(0, pool.live - pool.busy))
      },
    )

    if (this.processMetrics) {
      collectDefaultMetrics({ register: this.registry })
      // Gauges named like counters: `promtool check metrics` rejects them (prom-client issue 283);
      // each is the sum of its unsuffixed, per-type namesake.
      for (const name of PROMTOOL_REJECTS) this.registry.removeSingleMetric(name)
    }
    this.#subscribe()
  }

  /** Counts `server` under `name` (default: its address), and reads its gauges from now on. Call it before traffic: what was counted under another label stays there. */
  addServer(server: AnyServer, { name }: AddServerOptions = {}): this {
    if (name !== undefined) {
      this.#names.set(server, name)
      this.#tracked.delete(server)
    }
    this.#track(server)
    return this
  }

  /** The Prometheus text exposition of the registry (every metric in it, not only these). */
  scrape(): Promise<string> {
    return this.registry.metrics()
  }

  /** The `Content-Type` of `scrape()`'s text. */
  get contentType(): string {
    return this.registry.contentType
  }

  /** Unsubscribes from the channels and removes these metrics from the registry. Idempotent. */
  close(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe()
    for (const name of this.#registered.splice(0)) this.registry.removeSingleMetric(name)
    this.#live.clear()
  }

  // Registers a metric's name for close(); prom-client registered it at construction.
  #add<M>(metric: M, name: string): M {
    this.#registered.push(name)
    return metric
  }

  #track(server: AnyServer): Tracked {
    let tracked = this.#tracked.get(server)
    if (tracked) return tracked
    const label = this.#names.get(server) ?? serverLabel(server)
    tracked = {
      label,
      stream: server.socketType === 'stream',
      started: this.#started.labels(label),
      ended: this.#ended.labels(label),
      connections: this.#connections.labels(label),
      duration: this.#duration.labels(label),
      received: this.#received.labels(label),
      sent: this.#sent.labels(label),
    }
    this.#tracked.set(server, tracked)
    if (!server.closed) this.#live.add(server)
    return tracked
  }

  #on(channel: (typeof channels)[keyof typeof channels], listener: (message: any) => void): void {
    channel.subscribe(listener)
    this.#unsubscribe.push(() => channel.unsubscribe(listener))
  }

  #subscribe(): void {
    this.#on(channels.serverListening, ({ server }: { server: AnyServer }) => {
      this.#track(server)
    })
    this.#on(channels.requestStart, ({ server }: { server: AnyServer }) => {
      const tracked = this.#track(server)
      tracked.started.inc()
      if (tracked.stream) tracked.connections.inc()
    })
    this.#on(channels.requestEnd, ({ server, request, durationMs }: RequestEnd) => {
      const tracked = this.#track(server)
      tracked.ended.inc()
      if (durationMs !== undefined) tracked.duration.observe(durationMs / 1000)
      if (tracked.stream) {
        const { bytesRead, bytesWritten } = request as { bytesRead?: unknown; bytesWritten?: unknown }
        if (typeof bytesRead === 'number' && bytesRead > 0) tracked.received.inc(bytesRead)
        if (typeof bytesWritten === 'number' && bytesWritten > 0) tracked.sent.inc(bytesWritten)
      } else if (Array.isArray(request) && request[0] instanceof Uint8Array && request[0].byteLength > 0) {
        tracked.received.inc(request[0].byteLength) // [packet, socket]: the datagram transports' request
      }
    })
    this.#on(channels.serverError, ({ server, error }: { server: AnyServer; error: unknown }) => {
      this.#listenerErrors.inc({ server: this.#track(server).label, code: errorCode(error) })
    })
    this.#on(channels.requestError, ({ server, error }: { server: AnyServer; error: unknown }) => {
      this.#errors.inc({ server: this.#track(server).label, code: errorCode(error) })
    })
    this.#on(channels.requestDropped, ({ server, reason }: { server: AnyServer; reason: unknown }) => {
      const tracked = this.#track(server)
      this.#dropped.inc({ server: tracked.label, reason: dropReason(reason) })
      if (tracked.stream) tracked.connections.inc()
    })
    this.#on(channels.connectionRefused, ({ server, stage, error }: ConnectionRefused) => {
      const tracked = this.#track(server)
      const code = (error as { code?: unknown } | undefined)?.code
      this.#refused.inc({ server: tracked.label, stage, code: typeof code === 'string' ? code : 'UNKNOWN' })
      tracked.connections.inc()
    })
    this.#on(channels.packetOversized, ({ server, action }: { server: AnyServer; action: string }) => {
      this.#oversized.inc({ server: this.#track(server).label, action })
    })
    this.#on(
      channels.worker,
      ({ server, kind, event }: { server: AnyServer; kind: string; event: string }) => {
        this.#workerEvents.inc({ server: this.#track(server).label, kind, event })
      },
    )
  }
}

interface RequestEnd {
  server: AnyServer
  request: unknown
  durationMs: number | undefined
}

interface ConnectionRefused {
  server: AnyServer
  stage: string
  error: unknown
}

/** A `code` label: the error's `code` (`SOCKSRV_*`, `ECONNRESET`), else its class name. */
function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null | undefined)?.code
  if (typeof code === 'string') return code
  return error instanceof Error ? error.name : 'unknown'
}

/** A `reason` label: `access_deny`/`access_allow`/`access_limit`, `verify_request`, `queue_full`, `server_closed`. */
function dropReason(reason: unknown): string {
  if (reason instanceof AccessDeniedError) return `access_${reason.rule}`
  if (reason === 'verifyRequest') return 'verify_request'
  const code = errorCode(reason)
  return code.replace(/^SOCKSRV_/, '').toLowerCase()
}

/** A pool server's live and busy workers (`ThreadingMixIn`, `ForkingMixIn`), read through their public fields. */
function poolOf(server: AnyServer): { kind: 'thread' | 'process'; live: number; busy: number } | undefined {
  const pool = server as Partial<{
    workerThreads: unknown[]
    activeChildren: ReadonlySet<number>
    busyWorkerCount: number
  }>
  const busy = pool.busyWorkerCount ?? 0
  if (Array.isArray(pool.workerThreads)) return { kind: 'thread', live: pool.workerThreads.length, busy }
  if (pool.activeChildren instanceof Set) return { kind: 'process', live: pool.activeChildren.size, busy }
  return undefined
}
