/**
 * The server program every scenario starts in a child process:
 *
 *   node dist/server.js <kind> '<json options>'
 *
 * It prints one JSON line `{"ready":true,"port":...}` once it listens (or `{"error":{code,message}}`
 * and exits 1 when it cannot), then answers each `stats` line on stdin with a `{"stats":...}` line.
 */
import diagnostics from 'node:diagnostics_channel'
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import {
  type BaseServer,
  channels,
  type InetAddress,
  isHandlerWorker,
  shutdownOnSignals,
} from '@socketserver/core'
import { startEchoServer } from '@socketserver/echo-server'
import { EventLoopTLSServer, ForkingTCPServer, ThreadingTCPServer } from '@socketserver/socketserver'
import { startTimeServer } from '@socketserver/time-server'
import { EventLoopTCPServer } from '@socketserver/transport-tcp'
import { EventLoopUnixStreamServer } from '@socketserver/transport-unix'
import { counters, DeadlineLines, EveryThirdThrows, FrameEcho, LineEcho, SlowLines } from './handlers.js'

type Options = Record<string, any>
type Stats = () => Record<string, unknown>

const say = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`)

/** Counts what reaches `handleError()`, by error code (or class name). */
const handled: Record<string, number> = {}
function countErrors<S extends BaseServer<any, any, any>>(server: S): S {
  server.handleError = (_request, _address, error) => {
    const key = (error as { code?: string })?.code ?? (error as Error)?.name ?? 'unknown'
    handled[key] = (handled[key] ?? 0) + 1
  }
  return server
}
const handleErrorCount = () => Object.values(handled).reduce((a, b) => a + b, 0)

/** Pool lifecycle events (spawn, exit, replace), by event. */
const lifecycle: Record<string, number> = {}
diagnostics.subscribe(channels.worker.name, (message) => {
  const { event } = message as { event: string }
  lifecycle[event] = (lifecycle[event] ?? 0) + 1
})

/** Listener errors (EMFILE on accept, ...) published on socketserver:server:error, by code. */
const listenerErrors: Record<string, number> = {}
diagnostics.subscribe(channels.serverError.name, (message) => {
  const code = (message as { error: { code?: string } }).error?.code ?? 'unknown'
  listenerErrors[code] = (listenerErrors[code] ?? 0) + 1
})

const host = (o: Options) => o.host ?? '127.0.0.1'
const tcp = (server: BaseServer<any, any, InetAddress>) => server.serverAddress.port

async function start(kind: string, o: Options): Promise<{ ready: Record<string, unknown>; stats: Stats }> {
  switch (kind) {
    case 'every-third-throws': {
      const server = countErrors(
        await EventLoopTCPServer.create({ host: host(o), port: 0 }, EveryThirdThrows),
      )
      void server.serveForever()
      return {
        ready: { port: tcp(server) },
        stats: () => ({ ...counters, handleError: handleErrorCount(), byCode: handled }),
      }
    }
    case 'deadlines': {
      const server = countErrors(await EventLoopTCPServer.create({ host: host(o), port: 0 }, DeadlineLines))
      void server.serveForever()
      return {
        ready: { port: tcp(server) },
        stats: () => ({ ...counters, active: server.activeRequestCount }),
      }
    }
    case 'oversized': {
      const lines = countErrors(await EventLoopTCPServer.create({ host: host(o), port: 0 }, LineEcho))
      const frames = countErrors(await EventLoopTCPServer.create({ host: host(o), port: 0 }, FrameEcho))
      void lines.serveForever()
      void frames.serveForever()
      return {
        ready: { port: tcp(lines), framePort: tcp(frames) },
        stats: () => ({ byCode: handled, active: lines.activeRequestCount + frames.activeRequestCount }),
      }
    }
    case 'echo': {
      // The echo server app as `npm start` runs it, with its idle (read and write) deadline.
      const echo = await startEchoServer({
        listeners: o.listeners ?? [{ transport: 'tcp', host: host(o), port: 0 }],
        idleTimeout: o.idleTimeout ?? 2_000,
        udpRateLimit: { rate: 1e6, burst: 1e6 },
      })
      const ports = echo.listeners.map((l) => (typeof l.address === 'string' ? 0 : l.address.port))
      return {
        ready: { port: ports[0], ports },
        stats: () => ({
          ...echo.stats,
          open: echo.openConnections,
          listenerErrors,
          oversized: echo.servers.map((s) => (s as { oversizedPacketCount?: number }).oversizedPacketCount),
        }),
      }
    }
    case 'time': {
      const time = await startTimeServer({
        host: host(o),
        timePort: 0,
        daytimePort: 0,
        sntpPort: 0,
        rateLimit: false,
      })
      return {
        ready: {
          port: time.address('time', 'udp').port,
          daytimePort: time.address('daytime', 'udp').port,
          sntpPort: time.address('sntp', 'udp').port,
        },
        stats: () => ({
          ...time.stats,
          oversized: time.servers.map(
            (s) => (s as { oversizedPacketCount?: number }).oversizedPacketCount ?? 0,
          ),
          maxPacketSize: (time.servers[1] as { maxPacketSize?: number }).maxPacketSize,
        }),
      }
    }
    case 'pool': {
      const handlerModule = new URL('./handlers.js', import.meta.url).href
      const address = { host: host(o), port: 0 }
      const server = countErrors(
        o.mode === 'fork'
          ? await ForkingTCPServer.create(address, SlowLines, { handlerModule, processes: 2 })
          : await ThreadingTCPServer.create(address, SlowLines, { handlerModule, threads: 2 }),
      )
      void server.serveForever()
      // The stdin reader would keep the process alive: exit once drained, as the app CLIs do.
      shutdownOnSignals([server], { timeout: 2_000, onClosed: () => process.exit(0) })
      return {
        ready: { port: tcp(server) },
        stats: () => ({
          byCode: handled,
          lifecycle,
          active: server.activeRequestCount,
          children: 'activeChildren' in server ? [...(server.activeChildren as Set<number>)] : [],
        }),
      }
    }
    case 'drain': {
      const server = countErrors(await EventLoopTCPServer.create({ host: host(o), port: 0 }, SlowLines))
      void server.serveForever()
      shutdownOnSignals([server], {
        timeout: o.drainTimeout ?? 5_000,
        onSignal: (signal) => say({ signal, open: server.activeRequestCount }),
        onClosed: ({ aborted }) => {
          say({ closed: true, aborted })
          process.exit(0)
        },
      })
      return { ready: { port: tcp(server) }, stats: () => ({ active: server.activeRequestCount }) }
    }
    case 'unix': {
      const server = await EventLoopUnixStreamServer.create(o.path, LineEcho, { socketMode: o.socketMode })
      void server.serveForever()
      return { ready: { path: server.serverAddress }, stats: () => ({}) }
    }
    case 'access': {
      const server = await EventLoopTCPServer.create({ host: host(o), port: 0 }, SlowLines, {
        accessControl: o.accessControl,
      })
      void server.serveForever()
      return {
        ready: { port: tcp(server) },
        stats: () => ({
          refused: server.accessControl?.refused,
          open: server.accessControl?.connectionsFrom(host(o)),
        }),
      }
    }
    case 'tls': {
      // Scenario 12: the line echo over TLS, without client certificates (`port`; the name
      // `expired.test` has an expired certificate) and with mutual TLS (`mtlsPort`).
      const file = (path: string) => readFileSync(path)
      const own = { key: file(o.server.key), cert: file(o.server.cert) }
      const options = { handshakeTimeout: o.handshakeTimeout }
      const plain = countErrors(
        await EventLoopTLSServer.create({ host: host(o), port: 0 }, LineEcho, { ...options, tls: own }),
      )
      plain.addContext('expired.test', { key: file(o.expiredServer.key), cert: file(o.expiredServer.cert) })
      const mutual = countErrors(
        await EventLoopTLSServer.create({ host: host(o), port: 0 }, LineEcho, {
          ...options,
          tls: { ...own, ca: file(o.ca), requestCert: true },
        }),
      )
      // The last refusals, with their reasons, as socketserver:connection:refused publishes them.
      const refusals: Array<{ server: string; code?: string; message: string }> = []
      diagnostics.subscribe(channels.connectionRefused.name, (message) => {
        const { server, error } = message as { server: unknown; error: { code?: string; message: string } }
        refusals.push({ server: server === plain ? 'tls' : 'mtls', code: error.code, message: error.message })
        if (refusals.length > 20) refusals.shift()
      })
      // How long the event loop stalled (handshakes run on it) since the last `stats`.
      const delay = monitorEventLoopDelay({ resolution: 10 })
      delay.enable()
      void plain.serveForever()
      void mutual.serveForever()
      return {
        ready: { port: tcp(plain), mtlsPort: tcp(mutual) },
        stats: () => {
          const stalled = { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 }
          delay.reset()
          return {
            handlerCalls: counters.requests,
            byCode: handled,
            refused: Object.fromEntries(plain.refusedConnections),
            mtlsRefused: Object.fromEntries(mutual.refusedConnections),
            refusals,
            active: plain.activeRequestCount + mutual.activeRequestCount,
            eventLoopDelayMs: stalled,
          }
        },
      }
    }
    default:
      throw new Error(`unknown server kind ${kind}`)
  }
}

if (!isHandlerWorker()) {
  const [kind = '', json = '{}'] = process.argv.slice(2)
  try {
    const { ready, stats } = await start(kind, JSON.parse(json) as Options)
    say({ ready: true, pid: process.pid, ...ready })
    const lines = createInterface({ input: process.stdin })
    lines.on('line', (line) => {
      if (line.trim() === 'stats') say({ stats: stats() })
    })
  } catch (error) {
    const { code, message } = error as { code?: string; message: string }
    say({ error: { code, message } })
    process.exit(1)
  }
}
