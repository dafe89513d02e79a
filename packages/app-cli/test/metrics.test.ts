import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { metricsAddress, UsageError } from '@socketserver/app-cli'
import { afterEach, describe, expect, it } from 'vitest'

// The demos built on this runner, as a user starts them: `pnpm build` first (the root `pnpm test` does).
const cli = (app: string) => fileURLToPath(new URL(`../../../apps/${app}/dist/cli.js`, import.meta.url))

const children = new Set<ChildProcess>()
afterEach(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
})

/** Starts a demo with `--metrics 127.0.0.1:0`; resolves with its stdout once it says where the metrics are. */
async function startDemo(app: string, args: string[]): Promise<{ out: () => string; metricsUrl: string }> {
  const path = cli(app)
  if (!existsSync(path)) throw new Error(`${path} is missing: run pnpm build first`)
  const child = spawn(process.execPath, [path, ...args, '--metrics', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  const deadline = Date.now() + 15_000
  for (;;) {
    const match = /: metrics on (http:\/\/\S+)\n/.exec(out)
    if (match) return { out: () => out, metricsUrl: match[1]! }
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`${app}: no metrics line\nstdout: ${out}\nstderr: ${err}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Scrapes `url`; `promtool check metrics` must pass on the text, silently. */
async function scrape(url: string): Promise<string> {
  const response = await fetch(url)
  expect(response.status).toBe(200)
  const text = await response.text()
  const check = spawnSync('promtool', ['check', 'metrics'], {
    input: text,
    encoding: 'utf8',
    timeout: 20_000,
  })
  expect({ status: check.status, output: `${check.stdout}${check.stderr}` }).toEqual({
    status: 0,
    output: '',
  })
  return text
}

/** The value of `name{server="..."}` (no other label) in `text`; 0 when absent. */
function value(text: string, name: string, server: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{server="${server}"} `))
  return line ? Number(line.split(' ')[1]) : 0
}

/** Scrapes until `server` has ended `count` requests (the last ones end just after the clients see it). */
async function scrapeUntilEnded(url: string, server: string, count: number): Promise<string> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const text = await scrape(url)
    if (value(text, 'socketserver_requests_ended_total', server) >= count || Date.now() > deadline)
      return text
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Runs `nc` (netcat-openbsd) with `input`, shutting down its side at end of input: the demos' real client. */
function nc(port: number, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('nc', ['-N', '127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] })
    children.add(child)
    let out = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.once('error', reject)
    child.once('close', () => resolve(out))
    child.stdin!.end(input)
  })
}

describe('--metrics HOST:PORT on every demo: promtool passes, and the figures move with the load', () => {
  for (const mode of ['event-loop', 'thread', 'fork']) {
    it(`echo (--mode ${mode}): each nc connection is counted once, its bytes both ways`, async () => {
      const echo = await startDemo('echo-server', ['--port', '0', '--mode', mode])
      const port = Number(/listening on tcp 127\.0\.0\.1:(\d+)/.exec(echo.out())![1])
      const server = `tcp:127.0.0.1:${port}`
      const before = await scrape(echo.metricsUrl)
      expect(value(before, 'socketserver_requests_started_total', server)).toBe(0)
      expect(before).toMatch(/^process_resident_memory_bytes \d+/m)
      if (mode !== 'event-loop') {
        const kind = mode === 'thread' ? 'thread' : 'process'
        expect(before).toMatch(
          new RegExp(
            `^socketserver_pool_workers\\{server="${server}",kind="${kind}",state="idle"\\} [1-9]`,
            'm',
          ),
        )
      }

      const lines = Array.from({ length: 10 }, (_, i) => `line ${i} ${'x'.repeat(i)}\n`)
      const replies = await Promise.all(lines.map((line) => nc(port, line)))
      expect(replies).toEqual(lines)
      const after = await scrapeUntilEnded(echo.metricsUrl, server, 10)
      expect(value(after, 'socketserver_requests_started_total', server)).toBe(10)
      expect(value(after, 'socketserver_requests_ended_total', server)).toBe(10)
      expect(value(after, 'socketserver_connections_total', server)).toBe(10)
      expect(value(after, 'socketserver_request_duration_seconds_count', server)).toBe(10)
      // Bytes are counted where the socket is read: the main process, except when it moved (ADR 16).
      const bytes = lines.join('').length
      const counted = value(after, 'socketserver_received_bytes_total', server)
      if (mode === 'event-loop')
        expect([counted, value(after, 'socketserver_sent_bytes_total', server)]).toEqual([bytes, bytes])
      else expect([0, bytes]).toContain(counted)
    })
  }

  it('time server: every service is a server of its own; daytime over nc moves only its counters', async () => {
    const time = await startDemo('time-server', [
      '--time-port',
      '0',
      '--daytime-port',
      '0',
      '--sntp-port',
      '0',
    ])
    const port = Number(/listening on tcp 127\.0\.0\.1:(\d+) \(daytime/.exec(time.out())![1])
    const daytime = `tcp:127.0.0.1:${port}`
    const before = await scrape(time.metricsUrl)
    // Five listeners: time and daytime on TCP and UDP, SNTP on UDP.
    expect(before.match(/^socketserver_requests_queued\{/gm)).toHaveLength(5)
    const answers = await Promise.all([1, 2, 3, 4].map(() => nc(port, '')))
    for (const answer of answers) expect(answer).toMatch(/\d{4}/)
    const after = await scrapeUntilEnded(time.metricsUrl, daytime, 4)
    expect(value(after, 'socketserver_requests_started_total', daytime)).toBe(4)
    expect(value(after, 'socketserver_sent_bytes_total', daytime)).toBe(answers.join('').length)
    const started = after.match(/^socketserver_requests_started_total\{[^}]*\} \d+$/gm) ?? []
    expect(started).toEqual([`socketserver_requests_started_total{server="${daytime}"} 4`])
  })

  it('chat server: each nc session is one request on the line listener', async () => {
    const chat = await startDemo('chat-server', ['--port', '0', '--irc-port', 'off'])
    const port = Number(/listening on line \S+:(\d+)/.exec(chat.out())![1])
    const line = `tcp:127.0.0.1:${port}`
    await scrape(chat.metricsUrl)
    const sessions = await Promise.all(['ann', 'bob', 'cat'].map((nick) => nc(port, `${nick}\nhello\n`)))
    for (const session of sessions) expect(session.length).toBeGreaterThan(0)
    const after = await scrapeUntilEnded(chat.metricsUrl, line, 3)
    expect(value(after, 'socketserver_requests_started_total', line)).toBe(3)
    expect(value(after, 'socketserver_requests_ended_total', line)).toBe(3)
    expect(value(after, 'socketserver_requests_active', line)).toBe(0)
  })
})

describe('metricsAddress', () => {
  it('parses HOST:PORT and [IPv6]:PORT; rejects the rest with a UsageError', () => {
    expect(metricsAddress(undefined)).toBeUndefined()
    expect(metricsAddress('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 })
    expect(metricsAddress('[::1]:0')).toEqual({ host: '::1', port: 0 })
    expect(metricsAddress('localhost:80')).toEqual({ host: 'localhost', port: 80 })
    for (const bad of ['9464', ':9464', '::1:9464', '127.0.0.1:', '127.0.0.1:70000', 'host:port']) {
      expect(() => metricsAddress(bad)).toThrow(UsageError)
    }
  })
})
