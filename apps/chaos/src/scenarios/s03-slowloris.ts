import type net from 'node:net'
import { closedWithin, connect } from '../client.js'
import { runLoad, startServer } from '../proc.js'
import type { Scenario } from '../scenario.js'

const CONNECTIONS = 500
const IDLE_MS = 2_000
const REQUEST_MS = 5_000
const P99_BOUND_MS = 50

export const slowloris: Scenario = {
  id: 3,
  title: 'Slowloris',
  async run(r) {
    r.set({
      servers: `EventLoopTCPServer + StreamRequestHandler with idleTimeout ${IDLE_MS} ms, requestTimeout ${REQUEST_MS} ms`,
      load: `${CONNECTIONS} slow connections, and a normal client opening a connection every 20 ms for 8 s`,
      faults: `${CONNECTIONS} connections trickling a byte a second: half keep trickling, half fall silent after 2 bytes`,
      badInputs: 'requests that never complete (no newline, ever)',
    })
    const server = await startServer(
      'deadlines',
      {},
      {
        env: { CHAOS_IDLE_TIMEOUT: String(IDLE_MS), CHAOS_REQUEST_TIMEOUT: String(REQUEST_MS) },
      },
    )
    const target = { port: server.ready.port }
    const sockets: net.Socket[] = []
    const timers: NodeJS.Timeout[] = []
    try {
      const normal = runLoad('latency', { ...target, durationMs: 8_000, intervalMs: 20 }, 30_000)
      for (let i = 0; i < CONNECTIONS; i++) {
        const socket = await connect(target)
        socket.on('error', () => {})
        socket.resume()
        sockets.push(socket)
      }
      const closes = sockets.map((socket, i) => {
        let sent = 0
        const trickle = setInterval(() => {
          if (socket.destroyed || (i % 2 === 1 && sent >= 2)) return
          socket.write('a')
          sent++
        }, 1_000)
        timers.push(trickle)
        return closedWithin(socket, REQUEST_MS + 5_000)
      })
      const closedAfter = await Promise.all(closes)
      const latency = await normal
      const stats = await server.stats()
      r.figure('normal client', latency)
      r.figure('server', stats)
      const open = closedAfter.filter((ms) => ms === undefined).length
      const slowest = Math.max(...closedAfter.map((ms) => ms ?? Number.POSITIVE_INFINITY))
      r.check(
        'every slow connection was closed by the server',
        open === 0,
        `${CONNECTIONS - open} of ${CONNECTIONS}`,
      )
      r.bound(
        'time for the server to close a slow connection',
        `≤ requestTimeout + 1 s = ${REQUEST_MS + 1_000} ms`,
        `${slowest.toFixed(0)} ms at most`,
        slowest <= REQUEST_MS + 1_000,
      )
      r.check(
        'the silent half closed by the idle deadline',
        stats.timeouts.idle === CONNECTIONS / 2,
        stats.timeouts,
      )
      r.check(
        'the trickling half closed by the total-request deadline',
        stats.timeouts.request === CONNECTIONS / 2,
        stats.timeouts,
      )
      r.check(
        'the normal client was served throughout',
        latency.failed === 0 && latency.requests > 100,
        `${latency.requests} requests, ${latency.failed} failed`,
      )
      r.bound(
        "normal clients' round trip p99 (new connection + one line)",
        `< ${P99_BOUND_MS} ms`,
        `${latency.p99.toFixed(1)} ms (p50 ${latency.p50.toFixed(1)}, max ${latency.max.toFixed(1)})`,
        latency.p99 < P99_BOUND_MS,
      )
      r.set({ lost: latency.failed })
    } finally {
      for (const timer of timers) clearInterval(timer)
      for (const socket of sockets) socket.destroy()
      await server.kill()
    }
  },
}
