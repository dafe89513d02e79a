#!/usr/bin/env node
// ThreadingMixIn(TCPServer) against EventLoopTCPServer (the single-thread concurrent mode), two
// scenarios: a CPU-bound handler (pbkdf2Sync calibrated to ~2 ms per request) and a 64-byte echo.
// Each server runs in its own process, the load generator in another; rounds alternate which server
// goes first. The server process samples its main thread's event-loop delay
// (perf_hooks.monitorEventLoopDelay) during the measured window. Prints per-round figures, medians
// and ratios.
//
//   pnpm build && node packages/concurrency-thread/bench/pool-bench.mjs [--rounds 3] [--duration 3000]
//       [--connections 16] [--threads 2] [--scenarios cpu,echo]
//
// Run it with Node 26 for the socket-transfer path, with Node 20 for the MessagePort fallback.
import { fork } from 'node:child_process'
import net from 'node:net'
import { availableParallelism, loadavg } from 'node:os'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const SELF = fileURLToPath(import.meta.url)
const HANDLERS = new URL('./handlers.mjs', import.meta.url).href
const HOST = '127.0.0.1'
const WARMUP_MS = 700

const role = process.argv[2]
if (role === 'server') await runServer(process.argv[3], process.argv[4], Number(process.argv[5]))
else if (role === 'client') await runClient(JSON.parse(process.argv[3]))
else await orchestrate()

// --- server process -----------------------------------------------------------------------------

async function runServer(mode, scenario, threads) {
  const { TCPServer, EventLoopTCPServer } = await import('@socketserver/transport-tcp')
  const { ThreadingMixIn } = await import('@socketserver/concurrency-thread')
  const handlers = await import(HANDLERS)
  const Handler = scenario === 'cpu' ? handlers.Hash : handlers.Echo64
  class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
  const server =
    mode === 'eventloop'
      ? await EventLoopTCPServer.create({ host: HOST, port: 0 }, Handler)
      : await ThreadingTCPServer.create({ host: HOST, port: 0 }, Handler, {
          handlerModule: HANDLERS,
          threads,
        })
  const loop = server.serveForever()
  const delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()
  let cpuStart = process.cpuUsage()
  let wallStart = performance.now()
  process.on('message', async (message) => {
    if (message === 'reset') {
      delay.reset()
      cpuStart = process.cpuUsage()
      wallStart = performance.now()
    } else if (message === 'stats') {
      const cpu = process.cpuUsage(cpuStart)
      process.send({
        cores: (cpu.user + cpu.system) / 1000 / (performance.now() - wallStart),
        p50: delay.percentile(50) / 1e6,
        p99: delay.percentile(99) / 1e6,
        max: delay.max / 1e6,
        path: server.streamPath ?? 'event loop',
      })
    } else if (message === 'stop') {
      delay.disable()
      await server.shutdown()
      await loop
      server.blockOnClose = false
      server.abortRequests()
      await server.serverClose()
      process.exit(0)
    }
  })
  process.send({ port: server.serverAddress.port })
}

// --- load generator process ---------------------------------------------------------------------

async function runClient({ port, scenario, connections, duration }) {
  const payload = scenario === 'cpu' ? Buffer.from('hash me please\n') : Buffer.alloc(64, 0x61)
  let done = 0
  let measuring = false
  let stop = false
  const latencies = []
  const one = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ host: HOST, port })
      socket.setNoDelay(true)
      let pending = 0
      let sentAt = 0
      const expect = scenario === 'cpu' ? 65 : 64 // a hex sha256 line, or the 64 bytes back
      const send = () => {
        if (stop) {
          socket.end()
          return
        }
        sentAt = performance.now()
        socket.write(payload)
      }
      socket.on('connect', send)
      socket.on('data', (chunk) => {
        pending += chunk.length
        while (pending >= expect) {
          pending -= expect
          if (measuring) {
            done++
            latencies.push(performance.now() - sentAt)
          }
          send()
        }
      })
      socket.on('error', reject)
      socket.on('close', resolve)
    })
  const all = Array.from({ length: connections }, one)
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS))
  process.send('measuring')
  measuring = true
  const start = performance.now()
  await new Promise((resolve) => setTimeout(resolve, duration))
  measuring = false
  const elapsed = (performance.now() - start) / 1000
  stop = true
  await Promise.all(all)
  latencies.sort((a, b) => a - b)
  process.send({
    rps: done / elapsed,
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? 0,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
  })
}

// --- orchestration ------------------------------------------------------------------------------

function once(child, predicate = () => true) {
  return new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (!predicate(message)) return
      child.off('message', onMessage)
      resolve(message)
    }
    child.on('message', onMessage)
    child.once('exit', (code) => reject(new Error(`process exited (${code})`)))
  })
}

async function measure(mode, scenario, options) {
  const server = fork(SELF, ['server', mode, scenario, String(options.threads)])
  try {
    const { port } = await once(server, (m) => m && typeof m === 'object' && 'port' in m)
    const client = fork(SELF, [
      'client',
      JSON.stringify({ port, scenario, connections: options.connections, duration: options.duration }),
    ])
    await once(client, (m) => m === 'measuring')
    server.send('reset')
    const result = await once(client, (m) => m && typeof m === 'object' && 'rps' in m)
    server.send('stats')
    const loopDelay = await once(server, (m) => m && typeof m === 'object' && 'p99' in m)
    return { ...result, loopDelay }
  } finally {
    server.send('stop')
    await new Promise((resolve) => (server.exitCode !== null ? resolve() : server.once('exit', resolve)))
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

async function orchestrate() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '3000' },
      connections: { type: 'string', default: '16' },
      threads: { type: 'string', default: String(availableParallelism()) },
      scenarios: { type: 'string', default: 'cpu,echo' },
    },
  })
  const rounds = Number(values.rounds)
  const options = {
    duration: Number(values.duration),
    connections: Number(values.connections),
    threads: Number(values.threads),
  }
  // Calibrate the CPU-bound handler to ~2 ms here, before the server processes (which inherit it) start.
  const { work } = await import(HANDLERS)
  work(20_000)
  const t0 = performance.now()
  work(20_000)
  const perIteration = (performance.now() - t0) / 20_000
  process.env.PBKDF2_ITERATIONS ??= String(Math.round(2 / perIteration))
  console.log(
    `node ${process.version}, ${availableParallelism()} cores (load average ${loadavg()[0].toFixed(2)}), pool of ${options.threads} threads, ${options.connections} connections, ${rounds} rounds x ${options.duration} ms`,
  )
  console.log(
    `CPU handler: pbkdf2Sync sha256 with ${process.env.PBKDF2_ITERATIONS} iterations per request (~${(perIteration * Number(process.env.PBKDF2_ITERATIONS)).toFixed(2)} ms here)`,
  )
  for (const scenario of values.scenarios.split(',')) {
    const results = { eventloop: [], pool: [] }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? ['pool', 'eventloop'] : ['eventloop', 'pool']
      for (const mode of order) {
        const r = await measure(mode, scenario, options)
        results[mode].push(r)
        console.log(
          `  ${scenario} round ${round + 1} ${mode.padEnd(9)} ${r.rps.toFixed(0).padStart(7)} req/s  latency p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms  server CPU ${r.loopDelay.cores.toFixed(2)} cores  main-thread loop delay p99 ${r.loopDelay.p99.toFixed(2)} ms max ${r.loopDelay.max.toFixed(2)} ms  (${r.loopDelay.path})`,
        )
      }
    }
    const el = median(results.eventloop.map((r) => r.rps))
    const pool = median(results.pool.map((r) => r.rps))
    const elDelay = median(results.eventloop.map((r) => r.loopDelay.p99))
    const poolDelay = median(results.pool.map((r) => r.loopDelay.p99))
    console.log(
      `${scenario} (load average now ${loadavg()[0].toFixed(2)}): median EventLoopTCPServer ${el.toFixed(0)} req/s, ThreadingMixIn pool (${results.pool[0].loopDelay.path}) ${pool.toFixed(0)} req/s, ratio ${(pool / el).toFixed(2)}x; main-thread event-loop delay p99: event loop ${elDelay.toFixed(2)} ms, pool ${poolDelay.toFixed(2)} ms`,
    )
  }
}
