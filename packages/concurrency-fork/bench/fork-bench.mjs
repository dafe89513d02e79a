#!/usr/bin/env node
// ForkingMixIn(TCPServer) against EventLoopTCPServer (the single-thread concurrent mode), and
// per-request forking against Python's ForkingTCPServer. Scenarios:
//   cpu   a CPU-bound handler (a sha256 chain calibrated to ~2 ms per request), 16 persistent connections
//   echo  64-byte echo round trips, 16 persistent connections
//   conn  one request per connection (connect, one line, its echo, close), 8 clients at once:
//         EventLoopTCPServer, the fork pool, forkMode 'per-request' (without and with 4 spare
//         children), and Python's ForkingTCPServer
//   quiet the same, one client sending a request every 200 ms: the latency a lone request sees
// Each server runs in its own process (its children under it), the load generator in another; rounds
// alternate which server goes first; everything runs for a bounded time. Prints per-round figures,
// medians and ratios.
//
//   pnpm build && node packages/concurrency-fork/bench/fork-bench.mjs [--rounds 3] [--duration 3000]
//       [--connections 16] [--processes 2] [--scenarios cpu,echo,conn,quiet]
import { fork, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { availableParallelism, loadavg } from 'node:os'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const SELF = fileURLToPath(import.meta.url)
const HANDLERS = new URL('./handlers.mjs', import.meta.url).href
const PYTHON_SERVER = fileURLToPath(new URL('./python_forking.py', import.meta.url))
const HOST = '127.0.0.1'
const WARMUP_MS = 700
const LABELS = {
  eventloop: 'EventLoopTCPServer',
  pool: 'ForkingMixIn pool',
  'per-request': "ForkingMixIn 'per-request'",
  spares: "'per-request', 4 spareChildren",
  python: "Python's ForkingTCPServer",
}

const role = process.argv[2]
if (role === 'server') await runServer(process.argv[3], process.argv[4], Number(process.argv[5]))
else if (role === 'client') await runClient(JSON.parse(process.argv[3]))
else await orchestrate()

// --- server process -----------------------------------------------------------------------------

async function runServer(mode, scenario, processes) {
  const { TCPServer, EventLoopTCPServer } = await import('@socketserver/transport-tcp')
  const { ForkingMixIn } = await import('@socketserver/concurrency-fork')
  const handlers = await import(HANDLERS)
  const Handler = {
    cpu: handlers.Hash,
    echo: handlers.Echo64,
    conn: handlers.LineOnce,
    quiet: handlers.LineOnce,
  }[scenario]
  class ForkingTCPServer extends ForkingMixIn(TCPServer) {
    requestQueueSize = 128
  }
  const server =
    mode === 'eventloop'
      ? await EventLoopTCPServer.create({ host: HOST, port: 0 }, Handler, { requestQueueSize: 128 })
      : await ForkingTCPServer.create({ host: HOST, port: 0 }, Handler, {
          handlerModule: HANDLERS,
          processes,
          forkMode: mode === 'spares' ? 'per-request' : mode,
          spareChildren: mode === 'spares' ? 4 : 0,
          // Explicit: the children get PATH and the calibration, nothing else of this environment.
          env: { PATH: process.env.PATH, HASH_ROUNDS: process.env.HASH_ROUNDS },
        })
  const loop = server.serveForever()
  const delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()
  let cpuStart = process.cpuUsage()
  let wallStart = performance.now()
  let childrenStart = childrenCpuMs(server)
  process.on('message', async (message) => {
    if (message === 'reset') {
      delay.reset()
      cpuStart = process.cpuUsage()
      wallStart = performance.now()
      childrenStart = childrenCpuMs(server)
    } else if (message === 'stats') {
      const cpu = process.cpuUsage(cpuStart)
      const wall = performance.now() - wallStart
      process.send({
        p99: delay.percentile(99) / 1e6,
        max: delay.max / 1e6,
        cores: (cpu.user + cpu.system) / 1000 / wall,
        childCores: mode === 'pool' ? (childrenCpuMs(server) - childrenStart) / wall : Number.NaN,
      })
    } else if (message === 'stop') {
      delay.disable()
      await server.shutdown()
      await loop
      await server.shutdownGracefully({ timeout: 2000 })
      process.exit(0)
    }
  })
  process.send({ port: server.serverAddress.port })
}

/** CPU time of the pool's children so far, in ms, from /proc (Linux; NaN elsewhere). */
function childrenCpuMs(server) {
  if (!server.activeChildren) return Number.NaN
  let total = 0
  for (const pid of server.activeChildren) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
      total += ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // utime + stime, in clock ticks of 10 ms
    } catch {
      return Number.NaN
    }
  }
  return total
}

// --- load generator process ---------------------------------------------------------------------

async function runClient({ port, scenario, connections, duration }) {
  let done = 0
  let failed = 0
  let measuring = false
  let stop = false
  const latencies = []
  const persistent = () =>
    new Promise((resolve, reject) => {
      const payload = scenario === 'cpu' ? Buffer.from('hash me please\n') : Buffer.alloc(64, 0x61)
      const expect = scenario === 'cpu' ? 65 : 64 // a hex sha256 line, or the 64 bytes back
      const socket = net.connect({ host: HOST, port })
      socket.setNoDelay(true)
      let pending = 0
      let sentAt = 0
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
  // One request per connection: connect, send a line, read it back, see the server close.
  const oneShot = () =>
    new Promise((resolve) => {
      const start = performance.now()
      const socket = net.connect({ host: HOST, port })
      socket.setNoDelay(true)
      let got = ''
      socket.on('connect', () => socket.write('hello forking world\n'))
      socket.setEncoding('utf8')
      socket.on('data', (chunk) => (got += chunk))
      socket.on('error', () => {})
      socket.on('close', () => {
        const ok = got === 'hello forking world\n'
        if (measuring) {
          if (ok) {
            done++
            latencies.push(performance.now() - start)
          } else failed++
        }
        resolve()
      })
    })
  const loopOneShot = async () => {
    while (!stop) {
      await oneShot()
      // quiet: one request every 200 ms, the latency a lone client sees
      if (scenario === 'quiet') await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  const oneShots = scenario === 'conn' || scenario === 'quiet'
  const all = Array.from({ length: connections }, oneShots ? loopOneShot : persistent)
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
    failed,
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

function exited(child) {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode ? resolve() : child.once('exit', resolve),
  )
}

async function startPython() {
  const server = spawn('python3', [PYTHON_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  server.stdout.setEncoding('utf8')
  const port = await new Promise((resolve, reject) => {
    server.stdout.on('data', (chunk) => {
      out += chunk
      if (out.includes('\n')) resolve(Number(out.trim()))
    })
    server.once('exit', (code) => reject(new Error(`python exited (${code})`)))
  })
  return {
    port,
    stats: async () => ({ p99: Number.NaN, max: Number.NaN, cores: Number.NaN, childCores: Number.NaN }),
    reset() {},
    async stop() {
      server.kill('SIGINT') // serve_forever ends, server_close() collects the children
      await exited(server)
    },
  }
}

async function startNode(mode, scenario, processes) {
  const server = fork(SELF, ['server', mode, scenario, String(processes)])
  const { port } = await once(server, (m) => m && typeof m === 'object' && 'port' in m)
  return {
    port,
    reset: () => server.send('reset'),
    async stats() {
      server.send('stats')
      return once(server, (m) => m && typeof m === 'object' && 'p99' in m)
    },
    async stop() {
      server.send('stop')
      await exited(server)
    },
  }
}

async function measure(mode, scenario, options) {
  const server = mode === 'python' ? await startPython() : await startNode(mode, scenario, options.processes)
  try {
    const connections = scenario === 'conn' ? options.clients : scenario === 'quiet' ? 1 : options.connections
    const client = fork(SELF, [
      'client',
      JSON.stringify({ port: server.port, scenario, connections, duration: options.duration }),
    ])
    await once(client, (m) => m === 'measuring')
    server.reset()
    const result = await once(client, (m) => m && typeof m === 'object' && 'rps' in m)
    return { ...result, loopDelay: await server.stats() }
  } finally {
    await server.stop()
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
      clients: { type: 'string', default: '8' },
      processes: { type: 'string', default: String(availableParallelism()) },
      scenarios: { type: 'string', default: 'cpu,echo,conn,quiet' },
    },
  })
  const rounds = Number(values.rounds)
  const options = {
    duration: Number(values.duration),
    connections: Number(values.connections),
    clients: Number(values.clients),
    processes: Number(values.processes),
  }
  // Calibrate the CPU-bound handler to ~2 ms here; the servers inherit HASH_ROUNDS and pass it on.
  // The fastest of several runs: on a busy machine the others include time the core was elsewhere.
  const { sha } = await import(HANDLERS)
  sha(5000)
  let perHash = Number.POSITIVE_INFINITY
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now()
    sha(2000)
    perHash = Math.min(perHash, (performance.now() - t0) / 2000)
  }
  process.env.HASH_ROUNDS ??= String(Math.round(2 / perHash))
  console.log(
    `node ${process.version}, ${availableParallelism()} cores, pool of ${options.processes} processes, ${options.connections} persistent connections (cpu, echo), ${options.clients} one-shot clients (conn), ${rounds} rounds x ${options.duration} ms, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} before the run`,
  )
  console.log(
    `CPU handler: ${process.env.HASH_ROUNDS} sha256 rounds per request (${(perHash * 1000).toFixed(2)} us each: ~${(perHash * Number(process.env.HASH_ROUNDS)).toFixed(2)} ms)`,
  )
  for (const scenario of values.scenarios.split(',')) {
    const modes = {
      conn: ['eventloop', 'pool', 'per-request', 'spares', 'python'],
      quiet: ['eventloop', 'per-request', 'spares', 'python'],
    }[scenario] ?? ['eventloop', 'pool']
    const results = Object.fromEntries(modes.map((mode) => [mode, []]))
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? [...modes].reverse() : modes
      for (const mode of order) {
        const r = await measure(mode, scenario, options)
        results[mode].push(r)
        console.log(
          `  ${scenario} round ${round + 1} ${LABELS[mode].padEnd(27)} ${r.rps.toFixed(0).padStart(7)} req/s  latency p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms${r.failed ? `  ${r.failed} failed` : ''}  server CPU ${(r.loopDelay.cores ?? Number.NaN).toFixed(2)} cores${typeof r.loopDelay.childCores !== 'number' || Number.isNaN(r.loopDelay.childCores) ? '' : ` + children ${r.loopDelay.childCores.toFixed(2)}`}, loop delay p99 ${(r.loopDelay.p99 ?? Number.NaN).toFixed(2)} ms`,
        )
      }
    }
    const el = median(results.eventloop.map((r) => r.rps))
    const summary = modes.map((mode) => {
      const rps = median(results[mode].map((r) => r.rps))
      const p50 = median(results[mode].map((r) => r.p50))
      const p99 = median(results[mode].map((r) => r.p99))
      return `${LABELS[mode]} ${rps.toFixed(0)} req/s (p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, ${(rps / el).toFixed(2)}x)`
    })
    console.log(`${scenario} medians: ${summary.join('; ')}`)
  }
}
