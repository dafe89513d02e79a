#!/usr/bin/env node
// Unix stream ping-pong: EventLoopUnixStreamServer + a StreamRequestHandler echo against a raw
// node:net echo on a socket path. Each server runs in its own process, the load generator in a
// third; rounds alternate which server goes first, so drift on a shared machine hits both alike.
// Prints per-round figures, the medians and the ratios. Bounded: every round has a deadline and
// the whole run a timeout; children are killed on exit.
//
//   pnpm build && node packages/transport-unix/bench/unix-pingpong.mjs [--rounds 5] [--duration 3000]
//       [--connections 50] [--size 64] [--servers socketserver,raw,socket] [--perf]
//
// Needs the built dist/ of core, stream-handlers and transport-unix (a workspace-only script).
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const SELF = fileURLToPath(import.meta.url)
const WARMUP_MS = 500
const TARGET = 0.95
// node:net's default backlog; the framework gets the same (Python's 5 would refuse a burst of
// connects with EAGAIN: Unix sockets do not retry as TCP's SYN does).
const BACKLOG = 511
/** Linux USER_HZ: /proc/<pid>/stat counts CPU time in these. */
const CLOCK_TICKS = 100

const [role, ...rest] = process.argv.slice(2)
if (role === 'server') await runServer(rest[0], rest[1])
else if (role === 'client') await runClient(rest)
else await orchestrate(process.argv.slice(2))

// --- server processes ---------------------------------------------------------------------------

async function runServer(kind, path) {
  let close
  if (kind === 'raw') {
    const server = net.createServer((socket) => {
      socket.on('data', (data) => socket.write(data))
      socket.on('error', () => {})
    })
    await new Promise((resolve) => server.listen({ path, backlog: BACKLOG }, resolve))
    close = () => new Promise((resolve) => server.close(resolve))
  } else if (kind === 'socket') {
    // Transport and core without the stream layer: the handler echoes on the socket's 'data' events.
    const { EventLoopUnixStreamServer } = await import('@socketserver/transport-unix')
    const { BaseRequestHandler } = await import('@socketserver/core')
    class Echo extends BaseRequestHandler {
      handle() {
        return new Promise((resolve) => {
          this.request.on('data', (data) => this.request.write(data))
          this.request.once('end', resolve)
          this.request.once('close', resolve)
        })
      }
    }
    const server = await EventLoopUnixStreamServer.create(path, Echo, { requestQueueSize: BACKLOG })
    server.handleError = () => {}
    const loop = server.serveForever()
    close = async () => {
      await server.shutdownGracefully({ timeout: 1_000 })
      await loop
    }
  } else if (kind === 'socketserver') {
    // Resolved through the workspace links (transport-unix's devDependency on stream-handlers).
    const { EventLoopUnixStreamServer } = await import('@socketserver/transport-unix')
    const { StreamRequestHandler } = await import('@socketserver/stream-handlers')
    // The echo app's handler: copyTo moves each chunk with no promise per chunk.
    class Echo extends StreamRequestHandler {
      async handle() {
        await this.rfile.copyTo(this.wfile)
      }
    }
    const server = await EventLoopUnixStreamServer.create(path, Echo, { requestQueueSize: BACKLOG })
    // The load generator destroys its connections at the end of a round, mid-echo: expected.
    server.handleError = (_request, _address, error) => {
      if (error?.code !== 'SOCKSRV_CONNECTION_CLOSED' && error?.code !== 'ECONNRESET') console.error(error)
    }
    const loop = server.serveForever()
    close = async () => {
      await server.shutdownGracefully({ timeout: 1_000 })
      await loop
    }
  } else {
    throw new Error(`unknown server kind ${kind}`)
  }
  process.stdout.write('ready\n')
  process.stdin.resume()
  process.stdin.on('end', async () => {
    await close()
    process.exit(0)
  })
}

// --- load generator -----------------------------------------------------------------------------

async function runClient([path, durationText, connectionsText, sizeText]) {
  const duration = Number(durationText)
  const size = Number(sizeText)
  const payload = Buffer.alloc(size)
  for (let i = 0; i < size; i++) payload[i] = 97 + (i % 26)
  const readBuffer = Buffer.allocUnsafe(64 * 1024)
  let measuring = false
  let stopped = false
  let completed = 0
  let total = 0
  let errors = 0
  const latencies = []

  const open = () =>
    new Promise((resolve, reject) => {
      const conn = { got: 0, sentAt: 0, verified: false }
      conn.socket = net.connect({
        path,
        onread: {
          buffer: readBuffer,
          callback(n) {
            if (!conn.verified) {
              // A server that does not echo must not score.
              if (!readBuffer.subarray(0, n).equals(payload.subarray(conn.got, conn.got + n))) {
                errors++
                conn.socket.destroy()
                return false
              }
              if (conn.got + n >= size) conn.verified = true
            }
            conn.got += n
            if (conn.got < size) return true
            total++
            if (measuring) {
              completed++
              if (completed % 16 === 0) latencies.push(performance.now() - conn.sentAt)
            }
            if (!stopped) send(conn)
            return true
          },
        },
      })
      conn.socket.once('connect', () => resolve(conn))
      conn.socket.once('error', (error) => {
        errors++
        reject(error)
      })
    })
  const send = (conn) => {
    conn.got = 0
    conn.sentAt = performance.now()
    conn.socket.write(payload)
  }

  const conns = await Promise.all(Array.from({ length: Number(connectionsText) }, open))
  for (const conn of conns) send(conn)
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS))
  measuring = true
  const start = performance.now()
  const cpuStart = process.cpuUsage()
  await new Promise((resolve) => setTimeout(resolve, duration))
  measuring = false
  const elapsed = performance.now() - start
  const cpu = process.cpuUsage(cpuStart)
  stopped = true
  for (const conn of conns) conn.socket.destroy()
  latencies.sort((a, b) => a - b)
  process.send({
    rps: (completed * 1000) / elapsed,
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? 0,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    clientCpu: (cpu.user + cpu.system) / 1000 / elapsed,
    total,
    errors,
  })
  process.disconnect()
}

// --- orchestration ------------------------------------------------------------------------------

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function startServer(kind, path, children) {
  const child = spawn(process.execPath, [SELF, 'server', kind, path], { stdio: ['pipe', 'pipe', 'inherit'] })
  children.add(child)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} server did not start`)), 10_000)
    child.stdout.once('data', () => {
      clearTimeout(timer)
      resolve(child)
    })
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code})`)))
  })
}

/** CPU time (user + system, all threads) a process has used so far, in ms: Linux /proc. */
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS
  } catch {
    return Number.NaN
  }
}
/**
 * Counts the instructions process `pid` retires until `stop()` (perf stat; null without perf).
 * Unlike time, an instruction count hardly moves with the load other processes put on the machine.
 */
function countInstructions(pid, children) {
  const child = spawn('perf', ['stat', '-x', ',', '-e', 'instructions', '-p', String(pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  children.add(child)
  let output = ''
  child.stderr.on('data', (data) => (output += data))
  const exited = new Promise((resolve) => child.once('close', resolve))
  child.once('error', () => {})
  return async () => {
    child.kill('SIGINT')
    await exited
    const count = Number(
      output
        .split('\n')
        .find((line) => line.includes('instructions'))
        ?.split(',')[0],
    )
    return Number.isFinite(count) ? count : null
  }
}

function runRound(path, { duration, connections, size }, children) {
  const child = spawn(process.execPath, [SELF, 'client', path, duration, connections, size], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  children.add(child)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error('round timed out'))
    }, duration + 15_000)
    child.once('message', (result) => {
      clearTimeout(timer)
      resolve(result)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (code) reject(new Error(`load generator exited (${code})`))
    })
  })
}

async function orchestrate(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '3000' },
      connections: { type: 'string', default: '50' },
      size: { type: 'string', default: '64' },
      // 'socket' (not run by default): EventLoopUnixStreamServer echoing on 'data' events, to tell
      // the transport's cost apart from the stream layer's.
      servers: { type: 'string', default: 'socketserver,raw' },
      // Also count each server's instructions per round trip with `perf stat` (Linux, perf installed).
      perf: { type: 'boolean', default: false },
    },
  })
  const settings = {
    rounds: Math.max(1, Number(values.rounds)),
    duration: Number(values.duration),
    connections: Number(values.connections),
    size: Number(values.size),
  }
  const dir = mkdtempSync(join(tmpdir(), 'ssu-bench-'))
  const children = new Set()
  const cleanup = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  process.on('exit', cleanup)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => process.exit(130))
  const bound = settings.rounds * 2 * (settings.duration + 20_000) + 30_000
  setTimeout(() => {
    console.error(`bench: gave up after ${bound} ms`)
    process.exit(2)
  }, bound).unref()

  const kinds = values.servers.split(',')
  if (!kinds.includes('socketserver') || !kinds.includes('raw'))
    throw new Error('--servers must include socketserver and raw')
  const paths = Object.fromEntries(kinds.map((kind) => [kind, join(dir, `${kind}.sock`)]))
  const servers = {}
  for (const kind of kinds) servers[kind] = await startServer(kind, paths[kind], children)

  console.log(
    `Unix stream ping-pong: ${settings.connections} connections, ${settings.size}-byte messages, ` +
      `${settings.rounds} rounds x ${settings.duration} ms per server, Node ${process.version}, ${new Date().toISOString()}`,
  )
  const results = Object.fromEntries(kinds.map((kind) => [kind, []]))
  for (let round = 0; round < settings.rounds; round++) {
    const order = round % 2 === 0 ? kinds : [...kinds].reverse()
    for (const kind of order) {
      const cpuBefore = cpuMs(servers[kind].pid)
      const stopCounting = values.perf ? countInstructions(servers[kind].pid, children) : undefined
      const result = await runRound(paths[kind], settings, children)
      const instructions = stopCounting ? await stopCounting() : null
      result.instructionsPerRequest = instructions === null ? null : instructions / result.total
      // Server CPU over the whole run of the load generator (warm-up included), per round trip
      // counted in the measured window scaled to the same span: a figure that machine load skews less.
      result.serverCpuMs = cpuMs(servers[kind].pid) - cpuBefore
      result.cpuPerRequestUs =
        (result.serverCpuMs * 1000) / (result.rps * ((settings.duration + WARMUP_MS) / 1000))
      if (result.errors) throw new Error(`${kind}: ${result.errors} errors in round ${round + 1}`)
      results[kind].push(result)
      console.log(
        `round ${round + 1} ${kind.padEnd(12)} ${result.rps.toFixed(0).padStart(8)} req/s  ` +
          `p50 ${(result.p50 * 1000).toFixed(0)} us  p99 ${(result.p99 * 1000).toFixed(0)} us  ` +
          `server CPU ${result.cpuPerRequestUs.toFixed(2)} us/req  ` +
          (result.instructionsPerRequest
            ? `${(result.instructionsPerRequest / 1000).toFixed(1)}k instructions/req  `
            : '') +
          `load generator CPU ${(result.clientCpu * 100).toFixed(0)}%`,
      )
    }
  }
  for (const kind of kinds) servers[kind].stdin.end()

  const subject = results.socketserver.map((r) => r.rps)
  const baseline = results.raw.map((r) => r.rps)
  const perRound = subject.map((rps, i) => rps / baseline[i])
  const ratioOfMedians = median(subject) / median(baseline)
  console.log('')
  console.log(`median EventLoopUnixStreamServer + StreamRequestHandler: ${median(subject).toFixed(0)} req/s`)
  console.log(`median raw node:net:                                     ${median(baseline).toFixed(0)} req/s`)
  console.log(
    `ratio (median of per-round ratios): ${median(perRound).toFixed(3)}  (ratio of medians: ${ratioOfMedians.toFixed(3)})`,
  )
  const cpu = (kind) => median(results[kind].map((r) => r.cpuPerRequestUs))
  if (results.socket) {
    console.log(
      `median EventLoopUnixStreamServer, 'data' events (no stream layer): ${median(results.socket.map((r) => r.rps)).toFixed(0)} req/s, ` +
        `${cpu('socket').toFixed(2)} us CPU per round trip`,
    )
  }
  console.log(
    `server CPU per round trip: ${cpu('socketserver').toFixed(2)} us (framework) vs ${cpu('raw').toFixed(2)} us (raw): ` +
      `raw does the same work in ${((cpu('raw') / cpu('socketserver')) * 100).toFixed(0)}% of the CPU`,
  )
  if (values.perf) {
    const instructions = (kind) => median(results[kind].map((r) => r.instructionsPerRequest ?? Number.NaN))
    for (const kind of kinds)
      console.log(`instructions per round trip, ${kind}: ${(instructions(kind) / 1000).toFixed(1)}k`)
    console.log(
      `raw does the same work in ${((instructions('raw') / instructions('socketserver')) * 100).toFixed(0)}% of the instructions`,
    )
  }
  console.log(
    `load average at end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  )
  console.log(`target >= ${TARGET}: ${median(perRound) >= TARGET ? 'PASS' : 'FAIL'}`)
  process.exitCode = median(perRound) >= TARGET ? 0 : 1
  await new Promise((resolve) => setTimeout(resolve, 200))
}
