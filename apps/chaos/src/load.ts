/**
 * The load client, in a process of its own: `node dist/load.js <kind> '<json options>'` prints one
 * JSON result line. Every connection and request is bounded by a timeout.
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { exchange, percentile } from './client.js'

type Options = Record<string, any>

/**
 * Scenario 1: `connections` loops for `durationMs`, each a new connection with one line
 * `r<loop>-<n>`; answered means exactly `echo:<line>` came back.
 */
async function oneLinePerConnection(o: Options) {
  const until = performance.now() + o.durationMs
  const result = {
    sent: 0,
    answered: 0,
    wrong: 0,
    closedUnanswered: 0,
    timeouts: 0,
    errors: {} as Record<string, number>,
  }
  const loop = async (id: number) => {
    for (let n = 0; performance.now() < until; n++) {
      const line = `r${id}-${n}\n`
      const { outcome, data, code } = await exchange(o, line, { timeoutMs: 10_000 })
      result.sent++
      if (outcome === 'answered') {
        if (data === `echo:${line}`) result.answered++
        else result.wrong++
      } else if (outcome === 'closed') result.closedUnanswered++
      else if (outcome === 'timeout') result.timeouts++
      else result.errors[code ?? 'unknown'] = (result.errors[code ?? 'unknown'] ?? 0) + 1
    }
  }
  await Promise.all(Array.from({ length: o.connections }, (_, id) => loop(id)))
  return result
}

/**
 * Scenarios 3 and 12's normal clients: a new connection every `intervalMs` for `durationMs`, one
 * line each; round-trip times. With `caFile`, over TLS (a full handshake each: no session reuse).
 */
async function latency(o: Options) {
  const target = o.caFile ? { ...o, tls: { ca: readFileSync(o.caFile) } } : o
  const until = performance.now() + o.durationMs
  const times: number[] = []
  let failed = 0
  const pending: Array<Promise<void>> = []
  while (performance.now() < until) {
    pending.push(
      exchange(target, 'ping\n', { timeoutMs: 5_000, untilClose: false }).then(({ outcome, data, ms }) => {
        if (outcome === 'answered' && data === 'ping\n') times.push(ms)
        else failed++
      }),
    )
    await new Promise((r) => setTimeout(r, o.intervalMs))
  }
  await Promise.all(pending)
  times.sort((a, b) => a - b)
  return {
    requests: times.length,
    failed,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    max: times.at(-1),
  }
}

/**
 * Scenario 7: `connections` persistent connections, each sending a line and awaiting `ok:<line>`
 * for `durationMs`; a connection closed mid-request is counted and replaced; a reply not come
 * within `requestTimeoutMs` is a hang.
 */
async function persistentLines(o: Options) {
  const until = performance.now() + o.durationMs
  const result = { answered: 0, closedMidRequest: 0, hung: 0, connectErrors: 0 }
  const session = (): Promise<'closed' | 'done' | 'hung' | 'connect-error'> =>
    new Promise((resolve) => {
      const socket = net.connect({ host: o.host ?? '127.0.0.1', port: o.port })
      socket.setEncoding('utf8')
      let n = 0
      let buffer = ''
      let connected = false
      let timer: NodeJS.Timeout | undefined
      const finish = (how: 'closed' | 'done' | 'hung' | 'connect-error') => {
        clearTimeout(timer)
        socket.destroy()
        resolve(how)
      }
      const send = () => {
        if (performance.now() >= until) return finish('done')
        socket.write(`q${n}\n`)
        clearTimeout(timer)
        timer = setTimeout(() => finish('hung'), o.requestTimeoutMs)
      }
      socket.on('connect', () => {
        connected = true
        send()
      })
      socket.on('data', (chunk: string) => {
        buffer += chunk
        while (buffer.includes('\n')) {
          const index = buffer.indexOf('\n')
          const line = buffer.slice(0, index)
          buffer = buffer.slice(index + 1)
          if (line === `ok:q${n}`) {
            result.answered++
            n++
            send()
          }
        }
      })
      socket.on('error', () => {})
      socket.on('close', () => finish(connected ? 'closed' : 'connect-error'))
    })
  const loop = async () => {
    while (performance.now() < until) {
      const how = await session()
      if (how === 'closed') result.closedMidRequest++
      else if (how === 'hung') result.hung++
      else if (how === 'connect-error') {
        result.connectErrors++
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  }
  await Promise.all(Array.from({ length: o.connections }, loop))
  return result
}

/**
 * Scenario 14: echo traffic of two shapes at once for `durationMs`: `perRequest` loops, each a new
 * connection per line (connect, send, read the same line back, close), and `sessions` loops, each a
 * connection carrying `linesPerSession` lines `gapMs` apart, then closed and opened again.
 * Every failure is counted by kind: refused (ECONNREFUSED), reset (ECONNRESET, EPIPE), closed
 * before the echo came back, wrong echo, timeout.
 */
async function echoMixed(o: Options) {
  const until = performance.now() + o.durationMs
  const result = {
    sent: 0,
    answered: 0,
    connections: 0,
    refused: 0,
    reset: 0,
    closedUnanswered: 0,
    wrong: 0,
    timeouts: 0,
    otherErrors: {} as Record<string, number>,
  }
  const fail = (code: string | undefined) => {
    if (code === 'ECONNREFUSED') result.refused++
    else if (code === 'ECONNRESET' || code === 'EPIPE') result.reset++
    else result.otherErrors[code ?? 'unknown'] = (result.otherErrors[code ?? 'unknown'] ?? 0) + 1
  }
  // One connection, `lines` lines one after the other; resolves when it is closed by us.
  const session = (id: string, lines: number, gapMs: number) =>
    new Promise<void>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: o.port })
      socket.setNoDelay(true)
      socket.setEncoding('utf8')
      let n = 0
      let pending = ''
      let got = ''
      let timer: NodeJS.Timeout | undefined
      let settled = false
      const done = () => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        socket.destroy()
        resolve()
      }
      const send = () => {
        if (n >= lines || performance.now() >= until) {
          socket.end()
          return
        }
        pending = `${id}-${n++}\n`
        got = ''
        result.sent++
        socket.write(pending)
        clearTimeout(timer)
        timer = setTimeout(() => {
          result.timeouts++
          done()
        }, 10_000)
      }
      socket.on('connect', () => {
        result.connections++
        send()
      })
      socket.on('data', (chunk: string) => {
        got += chunk
        if (got.length < pending.length) return
        clearTimeout(timer)
        if (got === pending) result.answered++
        else result.wrong++
        pending = ''
        if (gapMs > 0) setTimeout(send, gapMs)
        else send()
      })
      socket.on('error', (error: NodeJS.ErrnoException) => {
        fail(error.code)
        if (pending) pending = '' // counted as an error, not as a close
        done()
      })
      socket.on('close', () => {
        if (pending) result.closedUnanswered++
        done()
      })
    })
  const loop = async (id: string, lines: number, gapMs: number) => {
    for (let k = 0; performance.now() < until; k++) await session(`${id}.${k}`, lines, gapMs)
  }
  await Promise.all([
    ...Array.from({ length: o.perRequest }, (_, i) => loop(`r${i}`, 1, 0)),
    ...Array.from({ length: o.sessions }, (_, i) => loop(`s${i}`, o.linesPerSession, o.gapMs)),
  ])
  return result
}

const kinds: Record<string, (o: Options) => Promise<unknown>> = {
  'echo-mixed': echoMixed,
  'one-line-per-connection': oneLinePerConnection,
  latency,
  'persistent-lines': persistentLines,
}

const [kind = '', json = '{}'] = process.argv.slice(2)
const run = kinds[kind]
if (!run) {
  process.stderr.write(`unknown load kind ${kind}\n`)
  process.exit(2)
}
process.stdout.write(`${JSON.stringify(await run(JSON.parse(json)))}\n`)
process.exit(0)
