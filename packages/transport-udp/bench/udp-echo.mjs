#!/usr/bin/env node
// UDP 64-byte echo: EventLoopUDPServer + DatagramRequestHandler against a raw node:dgram echo.
// Each server runs in its own process, the load generator in a third; rounds alternate which server
// goes first, so drift on a shared machine hits both. Prints per-round figures, medians and ratios.
//
//   pnpm build && node packages/transport-udp/bench/udp-echo.mjs [--rounds 5] [--duration 3000]
//       [--window 32] [--size 64]
//
// Needs the built dist/ of core, stream-handlers and transport-udp (workspace-only script).
import { spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const SELF = fileURLToPath(import.meta.url)
const HOST = '127.0.0.1'
const WARMUP_MS = 500

const [role, ...rest] = process.argv.slice(2)
if (role === 'server') await runServer(rest[0])
else if (role === 'client') await runClient(rest)
else await orchestrate(process.argv.slice(2))

// --- server processes ---------------------------------------------------------------------------

async function runServer(kind) {
  let close
  let port
  if (kind === 'raw') {
    const socket = dgram.createSocket('udp4')
    socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address))
    await new Promise((resolve) => socket.bind(0, HOST, resolve))
    port = socket.address().port
    close = () => socket.close()
  } else if (kind === 'socketserver') {
    // Resolved through the workspace links (transport-udp's devDependency on stream-handlers).
    const { EventLoopUDPServer } = await import('@socketserver/transport-udp')
    const { DatagramRequestHandler } = await import('@socketserver/stream-handlers')
    class Echo extends DatagramRequestHandler {
      async handle() {
        await this.wfile.write(this.packet)
      }
    }
    const server = await EventLoopUDPServer.create({ host: HOST, port: 0 }, Echo)
    const loop = server.serveForever()
    port = server.serverAddress.port
    close = async () => {
      await server.shutdown()
      await server.serverClose()
      await loop
    }
  } else {
    throw new Error(`unknown server kind ${kind}`)
  }
  process.stdout.write(`port ${port}\n`)
  process.stdin.resume()
  process.stdin.on('end', async () => {
    await close()
    process.exit(0)
  })
}

// --- load generator -----------------------------------------------------------------------------

async function runClient([portText, durationText, windowText, sizeText]) {
  const port = Number(portText)
  const duration = Number(durationText)
  const window = Number(windowText)
  const payload = Buffer.alloc(Number(sizeText), 0x61)
  payload.write('udp-echo-bench')
  const socket = dgram.createSocket('udp4')
  await new Promise((resolve) => socket.bind(0, HOST, resolve))
  socket.connect(port, HOST)
  await new Promise((resolve) => socket.once('connect', resolve))

  let inFlight = 0
  let received = 0
  let counted = 0
  let lost = 0
  let lastReceived = 0
  let measuring = false
  let stopping = false
  let verified = false
  const send = () => {
    inFlight++
    socket.send(payload)
  }
  socket.on('message', (msg) => {
    if (!verified) {
      if (!msg.equals(payload)) throw new Error('the echo differs from what was sent')
      verified = true
    }
    inFlight--
    received++
    if (measuring) counted++
    if (!stopping) send()
  })
  // A datagram lost on the way (a full receive buffer) would shrink the window for good: when
  // nothing came back for a while, count what is missing as lost and refill the window.
  const refill = setInterval(() => {
    if (stopping) return
    if (received === lastReceived && inFlight > 0) {
      lost += inFlight
      inFlight = 0
    }
    lastReceived = received
    while (inFlight < window) send()
  }, 100)
  for (let i = 0; i < window; i++) send()

  await sleep(WARMUP_MS)
  process.stdout.write('measuring\n') // the orchestrator samples the server's CPU now
  measuring = true
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  await sleep(duration)
  measuring = false
  const elapsed = performance.now() - start
  const cpu = process.cpuUsage(cpuStart)
  stopping = true
  clearInterval(refill)
  process.stdout.write(
    `${JSON.stringify({ echoes: counted, elapsedMs: elapsed, lost, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`,
  )
  await sleep(100)
  socket.close()
}

// --- orchestrator -------------------------------------------------------------------------------

async function orchestrate(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '3000' },
      window: { type: 'string', default: '32' },
      size: { type: 'string', default: '64' },
    },
  })
  const rounds = Number(values.rounds)
  const kinds = ['raw', 'socketserver']
  const results = { raw: [], socketserver: [] }
  console.log(
    `UDP ${values.size}-byte echo, ${values.window} in flight, ${rounds} rounds x ${values.duration} ms per server, node ${process.version}`,
  )
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? kinds : [...kinds].reverse()
    for (const kind of order) {
      const sample = await measure(kind, values)
      results[kind].push(sample)
      console.log(
        `round ${round} ${kind.padEnd(12)} ${fmt(sample.perSecond)} echoes/s  server CPU ${sample.cpuUsPerEcho.toFixed(2)} µs/echo (${sample.cpuPercent.toFixed(0)}% of a core)  load generator ${sample.clientCpuPercent.toFixed(0)}% of a core  lost ${sample.lost}`,
      )
    }
  }
  const med = (kind, key) => median(results[kind].map((s) => s[key]))
  const perRound = results.raw.map((raw, i) => results.socketserver[i].perSecond / raw.perSecond)
  const throughputRatio = med('socketserver', 'perSecond') / med('raw', 'perSecond')
  const cpuRatio = med('raw', 'cpuUsPerEcho') / med('socketserver', 'cpuUsPerEcho')
  console.log('')
  console.log(
    `median raw node:dgram echo:                 ${fmt(med('raw', 'perSecond'))} echoes/s, ${med('raw', 'cpuUsPerEcho').toFixed(2)} µs CPU/echo`,
  )
  console.log(
    `median EventLoopUDPServer + DatagramRequestHandler: ${fmt(med('socketserver', 'perSecond'))} echoes/s, ${med('socketserver', 'cpuUsPerEcho').toFixed(2)} µs CPU/echo`,
  )
  console.log(
    `throughput ratio (socketserver / raw, ratio of medians): ${throughputRatio.toFixed(3)}  (per round: ${perRound.map((r) => r.toFixed(3)).join(', ')}; median ${median(perRound).toFixed(3)})`,
  )
  console.log(`CPU efficiency (raw µs per echo / socketserver µs per echo): ${cpuRatio.toFixed(3)}`)
  console.log(`target >= 0.9 on throughput: ${throughputRatio >= 0.9 ? 'met' : 'NOT met'}`)
}

async function measure(kind, { duration, window, size }) {
  const server = spawn(process.execPath, [SELF, 'server', kind], { stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    const port = Number((await line(server.stdout, /^port (\d+)$/))[1])
    const client = spawn(process.execPath, [SELF, 'client', String(port), duration, window, size], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    await line(client.stdout, /^measuring$/)
    const cpuStart = processCpuMs(server.pid)
    const result = JSON.parse((await line(client.stdout, /^\{.*\}$/))[0])
    const cpuMs = processCpuMs(server.pid) - cpuStart
    await new Promise((resolve) => client.once('close', resolve))
    return {
      perSecond: (result.echoes * 1000) / result.elapsedMs,
      cpuUsPerEcho: (cpuMs * 1000) / result.echoes,
      cpuPercent: (cpuMs * 100) / result.elapsedMs,
      lost: result.lost,
      clientCpuPercent: (result.cpuMs * 100) / result.elapsedMs,
    }
  } finally {
    server.stdin.end()
    await Promise.race([new Promise((resolve) => server.once('close', resolve)), sleep(5000)])
    if (server.exitCode === null) server.kill('SIGKILL')
  }
}

/** CPU time (user + system) of a process so far, in ms, from /proc (Linux). */
function processCpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // USER_HZ is 100 on Linux
}

function line(stream, pattern) {
  return new Promise((resolve, reject) => {
    let buffer = ''
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within 30 s`)), 30_000)
    const onData = (chunk) => {
      buffer += chunk
      for (const text of buffer.split('\n')) {
        const match = text.match(pattern)
        if (match) {
          clearTimeout(timer)
          stream.off('data', onData)
          resolve(match)
          return
        }
      }
    }
    stream.setEncoding('utf8')
    stream.on('data', onData)
  })
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function fmt(n) {
  return Math.round(n).toLocaleString('en-US')
}
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
