#!/usr/bin/env node
// The scale-out demo (docs/scale-out.md): NODES chat server processes behind Debian's HAProxy
// (send-proxy-v2, round robin, PROXY-speaking health checks) sharing one Redis. USERS users connect
// through HAProxy from 127.0.0.2, talk across nodes, check WHOIS; under load one node is killed
// (SIGKILL), its users reconnect through HAProxy, and every message sent after that is counted.
// Prints the figures as text and, last, one JSON line. Exit status 1 if a message was lost.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const NODES = Number(process.env.NODES ?? 3)
const USERS = Number(process.env.USERS ?? 30)
const MESSAGES = Number(process.env.MESSAGES ?? 5)
const LOAD_MS = Number(process.env.LOAD_MS ?? 1500)
const CLIENT = '127.0.0.2' // users' own address, unlike HAProxy's 127.0.0.1
const cli = new URL('../dist/cli.js', import.meta.url).pathname
const children = []
const dir = mkdtempSync(join(tmpdir(), 'scale-out-'))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const say = (text) => process.stdout.write(`${text}\n`)

function cleanUp() {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}
process.on('exit', cleanUp)
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130))

async function portFree() {
  const probe = net.createServer()
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  return port
}

/** Starts a child; resolves once a line of its output matches `ready`. */
function start(command, args, ready) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let output = ''
  return new Promise((resolve, reject) => {
    const onOutput = (chunk) => {
      output += chunk
      if (ready.test(output)) resolve(child)
    }
    child.stdout.on('data', onOutput)
    child.stderr.on('data', onOutput)
    child.once('exit', (code) =>
      reject(new Error(`${command} exited (${code}) before it was ready:\n${output}`)),
    )
  })
}

async function listening(port) {
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(true)).once('error', () => resolve(false))
      setTimeout(() => socket.destroy(), 50)
    })
    if (ok) return
    await sleep(50)
  }
}

/** One user on the line protocol, through HAProxy. */
class User {
  constructor(nick) {
    this.nick = nick
    this.received = []
    this.lines = []
    this.waiters = []
  }

  async connect(port) {
    this.socket = net.connect({ port, host: '127.0.0.1', localAddress: CLIENT })
    this.socket.setEncoding('utf8')
    this.closed = new Promise((resolve) => this.socket.once('close', resolve))
    this.socket.on('error', () => {})
    let pending = ''
    this.socket.on('data', (text) => {
      pending += text
      for (let nl; (nl = pending.indexOf('\n')) >= 0; ) {
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        if (line.startsWith('[#scale] <')) this.received.push(line)
        else this.lines.push(line)
        const matched = this.waiters.filter(([test]) => test(line))
        this.waiters = this.waiters.filter((waiter) => !matched.includes(waiter))
        for (const [, resolve] of matched) resolve(line)
      }
    })
    await new Promise((resolve, reject) => this.socket.once('connect', resolve).once('error', reject))
  }

  expect(test, what, ms = 5_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.nick}: no ${what} in ${ms} ms`)), ms)
      this.waiters.push([
        test,
        (line) => {
          clearTimeout(timer)
          resolve(line)
        },
      ])
    })
  }

  async enter(port, nick) {
    this.nick = nick
    await this.connect(port)
    const named = this.expect((l) => l.startsWith('* you are now'), 'nick')
    this.socket.write(`/nick ${nick}\n`)
    await named
    const joined = this.expect((l) => l.startsWith('* you joined'), 'join')
    this.socket.write('/join #scale\n')
    await joined
  }

  send(text) {
    if (!this.socket.destroyed) this.socket.write(`${text}\n`)
  }
}

// --- the parts ---------------------------------------------------------------------------------
let redisUrl = process.env.REDIS_URL
if (!redisUrl) {
  const port = await portFree()
  await start(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    /Ready to accept/,
  )
  redisUrl = `redis://127.0.0.1:${port}`
}
const prefix = `scale-${process.pid}:`
const nodePorts = []
const nodes = []
for (let i = 0; i < NODES; i++) {
  const port = await portFree()
  nodePorts.push(port)
  const args = [cli, '--port', String(port), '--irc-port', 'off', '--bus', redisUrl, '--redis-prefix', prefix]
  nodes.push(
    await start(
      process.execPath,
      [...args, '--trusted-proxies', '127.0.0.1', '--rate', '1000', '--idle-timeout', '0'],
      /listening on/,
    ),
  )
}
const front = await portFree()
writeFileSync(
  join(dir, 'haproxy.cfg'),
  `global
  maxconn 2000
defaults
  mode tcp
  timeout connect 500ms
  timeout client 60s
  timeout server 60s
  timeout check 500ms
  retries 3
  option redispatch
listen chat
  bind 127.0.0.1:${front}
  balance roundrobin
  default-server send-proxy-v2 check-send-proxy check inter 250ms fall 2 rise 2
${nodePorts.map((port, i) => `  server node${i} 127.0.0.1:${port}`).join('\n')}
`,
)
const haproxy = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: 'ignore' })
children.push(haproxy)
await listening(front)
say(
  `${NODES} chat nodes (ports ${nodePorts.join(', ')}) behind HAProxy on 127.0.0.1:${front}, Redis ${redisUrl}`,
)

// --- users on every node talk ------------------------------------------------------------------
const users = Array.from({ length: USERS }, (_, i) => new User(`u${i}`))
for (const user of users) await user.enter(front, user.nick)
const everyone = (count) => users.every((u) => u.received.length >= count)
async function until(condition, ms) {
  const deadline = Date.now() + ms
  while (!condition() && Date.now() < deadline) await sleep(20)
  return condition()
}
for (const user of users) user.send(`hello from ${user.nick}`)
const talked = await until(() => everyone(USERS - 1), 10_000)
say(
  `${USERS} users joined #scale through HAProxy; each said hello: ${talked ? "every user got every other user's" : 'NOT all delivered'}`,
)

// --- WHOIS shows the users' own address --------------------------------------------------------
const whois = []
for (const target of users.slice(1, 1 + NODES)) {
  const answer = users[0].expect((l) => l.startsWith(`* ${target.nick} is online`), 'whois')
  users[0].send(`/whois ${target.nick}`)
  whois.push(await answer)
}
say(`WHOIS from u0: ${whois.join(' | ')}`)

// --- kill a node under load --------------------------------------------------------------------
const before = users.map((u) => u.received.length)
let sending = true
let sent = 0
const load = (async () => {
  for (let seq = 0; sending; seq++) {
    for (const user of users) {
      if (user.socket.destroyed) continue
      user.send(`load ${user.nick} ${seq}`)
      sent++
    }
    await sleep(50)
  }
})()
await sleep(LOAD_MS / 2)
const victim = nodes[0]
// Who was on it: every user whose connection closes after the kill. Each reconnects at once.
const moved = []
const reconnects = []
let killedAt = 0
const reconnect = async (user) => {
  moved.push(user)
  for (let attempt = 0; ; attempt++) {
    try {
      // Its nickname stays claimed by the dead node until the node's Redis lease (15 s) expires.
      await user.enter(front, `${user.nick.replace(/_r\d*$/, '')}_r${attempt || ''}`)
      return performance.now() - killedAt
    } catch {
      user.socket.destroy()
      await sleep(100)
    }
  }
}
for (const user of users) user.closed.then(() => killedAt && reconnects.push(reconnect(user)))
killedAt = performance.now()
victim.kill('SIGKILL')
await sleep(500) // every connection of the dead node has closed by now
const reconnectMs = await Promise.all(reconnects)
await sleep(LOAD_MS / 2)
sending = false
await load
const duringLoad = users.reduce((sum, u, i) => sum + u.received.length - before[i], 0)
reconnectMs.sort((a, b) => a - b)
say(
  `killed node0 (pid ${victim.pid}) under load: ${moved.length} users were on it; all reconnected through HAProxy ` +
    `in ${Math.round(reconnectMs.at(-1) ?? 0)} ms (median ${Math.round(reconnectMs[reconnectMs.length >> 1] ?? 0)} ms)`,
)

// --- after the reconnect: nothing may be lost --------------------------------------------------
await sleep(300)
const base = users.map((u) => u.received.length)
for (let k = 0; k < MESSAGES; k++) for (const user of users) user.send(`after ${user.nick} ${k}`)
const expected = USERS * (USERS - 1) * MESSAGES
const count = () =>
  users.reduce((sum, u, i) => sum + u.received.slice(base[i]).filter((l) => l.includes('> after ')).length, 0)
await until(() => count() >= expected, 15_000)
const delivered = count()
const lost = expected - delivered
say(
  `after the reconnect: ${USERS} users x ${MESSAGES} messages to ${USERS - 1} others: ${expected} expected, ${delivered} delivered, ${lost} lost`,
)
const figures = {
  nodes: NODES,
  users: USERS,
  helloDelivered: talked,
  whois,
  movedUsers: moved.length,
  loadMessagesSent: sent,
  loadLinesDelivered: duringLoad,
  reconnectMaxMs: Math.round(reconnectMs.at(-1) ?? 0),
  reconnectMedianMs: Math.round(reconnectMs[reconnectMs.length >> 1] ?? 0),
  afterExpected: expected,
  afterDelivered: delivered,
  afterLost: lost,
}
say(JSON.stringify(figures))
for (const user of users) user.socket.destroy()
process.exit(lost === 0 && talked ? 0 : 1)
