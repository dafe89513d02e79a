#!/usr/bin/env node
// The bench's idle and ping-pong ratios from a second load generator (tools/epoll-client.c, plain C
// and epoll, compiled here with cc): docs/perf/idle-connection.md.
//
//   node apps/bench/tools/second-loadgen.mjs idle [--connections 10000] [--rounds 3] [--servers a,b,...]
//   node apps/bench/tools/second-loadgen.mjs pingpong [--rounds 5] [--seconds 3] [--servers a,b,...]
//     (requests/s, and the server's CPU per request from /proc/<pid>/stat)
//
// Servers are the bench's kinds (`dist/server.js <kind>`, so build the bench first; `kind@path`
// takes the kind from another build's server.js, e.g. a checkout of an older commit) and `chat`
// (apps/chat-server, event-loop mode: each connection sends `/nick u<i>` and waits for its two
// lines). Idle: a fresh server per round, RSS of the server and its children before and after,
// per connection; servers alternate round by round, the ratio is the median of per-round ratios
// against the first server. Needs Linux, cc, and prlimit for more connections than the soft limit.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  options: {
    connections: { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string', default: '3' },
    servers: { type: 'string' },
  },
  allowPositionals: true,
})
const mode = positionals[0] ?? 'idle'
const here = path.dirname(new URL(import.meta.url).pathname)
const serverJs = path.join(here, '../dist/server.js')
const chatJs = path.join(here, '../../chat-server/dist/cli.js')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

const dir = mkdtempSync(path.join(os.tmpdir(), 'second-loadgen-'))
const client = path.join(dir, 'epoll-client')
execFileSync('cc', ['-O2', '-Wall', '-o', client, path.join(here, 'epoll-client.c')], { stdio: 'inherit' })
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))

/** RSS of a process and its descendants, bytes. */
function treeRss(pid) {
  let total = 0
  try {
    total = Number(/^VmRSS:\s*(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim()
      for (const child of children ? children.split(' ') : []) total += treeRss(Number(child))
    }
  } catch {
    // gone
  }
  return total
}

/** The hard limit on open files of this process (its children inherit it). */
const hardLimit = Number(
  /^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 1e9,
)
const nofile = (n) => ['prlimit', `--nofile=${Math.min(n, hardLimit)}:${hardLimit}`]

/** Starts a server; resolves with its pid, port and a stop function. */
async function startServer(kind, fds) {
  const [command, ...args] =
    kind === 'chat'
      ? [
          process.execPath,
          chatJs,
          '--host',
          '127.0.0.1',
          '--port',
          '0',
          '--irc-port',
          'off',
          '--idle-timeout',
          '0',
        ]
      : [process.execPath, kind.split('@')[1] ?? serverJs, kind.split('@')[0], '127.0.0.1']
  const child = spawn(...nofile(fds).slice(0, 1), [...nofile(fds).slice(1), command, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout })
  const port = await new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      const ready = line.startsWith('{')
        ? JSON.parse(line).port
        : /listening on line [\d.]+:(\d+)/.exec(line)?.[1]
      if (ready) resolve(Number(ready))
    })
    child.once('exit', (code) => reject(new Error(`${kind} exited (${code})`)))
  })
  const stop = async () => {
    child.stdin.end()
    child.kill('SIGTERM')
    await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)))
  }
  return { pid: child.pid, port, stop }
}

async function idleRound(kind, n) {
  const server = await startServer(kind, n + 256)
  await sleep(300)
  const before = treeRss(server.pid)
  const [message, expect] = kind === 'chat' ? ['/nick u%d\\n', '2'] : ['\\n', '1']
  const gen = spawn(...nofile(n + 256).slice(0, 1), [
    ...nofile(n + 256).slice(1),
    client,
    'idle',
    '127.0.0.1',
    String(server.port),
    String(n),
    message,
    expect,
  ])
  const [up, failed] = await new Promise((resolve) => {
    createInterface({ input: gen.stdout }).once('line', (line) =>
      resolve(line.split(' ').slice(1).map(Number)),
    )
  })
  await sleep(500)
  const after = treeRss(server.pid)
  gen.stdin.end()
  await new Promise((resolve) => gen.once('exit', resolve))
  await server.stop()
  return { up, failed, bytes: (after - before) / up }
}

/** CPU time (user + system, all threads) of a process so far, in clock ticks (1/100 s on Linux). */
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

/** Requests per second, and the server's CPU per request in µs. */
async function pingpongRound(server, seconds) {
  const cpu0 = cpuTicks(server.pid)
  const args = ['pingpong', '127.0.0.1', String(server.port), '50', '64', String(seconds)]
  const [requests, elapsed] = execFileSync(client, args, { encoding: 'utf8' }).trim().split(' ').map(Number)
  return { rate: requests / elapsed, cpuUs: ((cpuTicks(server.pid) - cpu0) * 10_000) / requests }
}

const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')
console.log(`second load generator: ${client} (C, epoll), mode ${mode}; load average ${load()}`)

if (mode === 'idle') {
  let n = Number(values.connections ?? 10_000)
  if (n + 256 > hardLimit) {
    console.log(
      `${n} connections asked, but the hard limit on open files is ${hardLimit}: running ${hardLimit - 256}`,
    )
    n = hardLimit - 256
  }
  const rounds = Number(values.rounds ?? 3)
  const kinds = (values.servers ?? 'raw-net,eventloop-stream,eventloop-lines').split(',')
  const results = Object.fromEntries(kinds.map((k) => [k, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const kind of kinds) {
      const r = await idleRound(kind, n)
      results[kind].push(r)
      console.log(
        `round ${round}/${rounds}  ${kind.padEnd(22)} ${(r.bytes / 1024).toFixed(2)} KB/conn  (${r.up} up, ${r.failed} failed)`,
      )
    }
  }
  const base = kinds[0]
  console.log(
    `\nmedians over ${rounds} round(s), ${n} connections; ratios: median of per-round ratios to ${base}`,
  )
  for (const kind of kinds) {
    const kb = median(results[kind].map((r) => r.bytes)) / 1024
    const ratios = results[kind].map((r, i) => r.bytes / results[base][i].bytes)
    console.log(
      `${kind.padEnd(22)} ${kb.toFixed(2)} KB/conn  ratio ${median(ratios).toFixed(3)} (${ratios.map((x) => x.toFixed(3)).join(' ')})`,
    )
  }
} else if (mode === 'pingpong') {
  const rounds = Number(values.rounds ?? 5)
  const seconds = Number(values.seconds)
  const kinds = (values.servers ?? 'raw-net,eventloop-stream,eventloop-lines').split(',')
  const servers = {}
  for (const kind of kinds) servers[kind] = await startServer(kind, 1024)
  const results = Object.fromEntries(kinds.map((k) => [k, []]))
  try {
    for (const kind of kinds) await pingpongRound(servers[kind], 0.5) // warm-up
    for (let round = 1; round <= rounds; round++) {
      for (const kind of kinds) {
        const r = await pingpongRound(servers[kind], seconds)
        results[kind].push(r)
        const line = `round ${round}/${rounds}  ${kind.padEnd(22)} ${Math.round(r.rate).toLocaleString('en')} req/s`
        console.log(`${line}  server CPU ${r.cpuUs.toFixed(1)} us/req`)
      }
    }
  } finally {
    for (const kind of kinds) await servers[kind].stop()
  }
  const base = kinds[0]
  console.log(`\nmedians over ${rounds} round(s) of ${seconds} s, 50 connections, 64 B; ratios to ${base}`)
  for (const kind of kinds) {
    const ratios = results[kind].map((r, i) => r.rate / results[base][i].rate)
    const cpuRatios = results[kind].map((r, i) => r.cpuUs / results[base][i].cpuUs)
    const rate = Math.round(median(results[kind].map((r) => r.rate))).toLocaleString('en')
    const cpu = median(results[kind].map((r) => r.cpuUs)).toFixed(1)
    console.log(
      `${kind.padEnd(22)} ${rate} req/s  ratio ${median(ratios).toFixed(3)} (${ratios.map((x) => x.toFixed(3)).join(' ')})  server CPU ${cpu} us/req, CPU ratio ${median(cpuRatios).toFixed(3)}`,
    )
  }
} else {
  console.error(`unknown mode ${mode}: idle or pingpong`)
  process.exit(2)
}
console.log(`load average ${load()} at end`)
