import net from 'node:net'
import { performance } from 'node:perf_hooks'
import tls from 'node:tls'

/** Where to connect; with `tls`, over TLS (Node's `tls.connect()` options), connected once the handshake is done. */
export interface Target {
  host?: string
  port?: number
  path?: string
  tls?: tls.ConnectionOptions
}

/** Opens a connection to `target`; `ready` is the event that says it can carry data. */
function open(target: Target): { socket: net.Socket; ready: 'connect' | 'secureConnect' } {
  if (target.tls) {
    const socket = tls.connect({ host: target.host ?? '127.0.0.1', port: target.port, ...target.tls })
    return { socket, ready: 'secureConnect' }
  }
  const socket = target.path
    ? net.connect({ path: target.path })
    : net.connect({ host: target.host ?? '127.0.0.1', port: target.port! })
  return { socket, ready: 'connect' }
}

export type Outcome = 'answered' | 'closed' | 'error' | 'timeout'

export interface Exchange {
  outcome: Outcome
  /** What the server sent before it closed (or until the deadline). */
  data: string
  /** The error code when `outcome` is `'error'`. */
  code?: string
  ms: number
}

/**
 * One request on a new connection: connects, sends `line`, and reads until the server closes
 * (`untilClose`), until one full line arrived, or until `untilBytes` arrived; bounded by `timeoutMs`.
 */
export function exchange(
  target: Target,
  line: string,
  {
    timeoutMs = 5_000,
    untilClose = true,
    untilBytes,
  }: { timeoutMs?: number; untilClose?: boolean; untilBytes?: number } = {},
): Promise<Exchange> {
  const start = performance.now()
  return new Promise((resolve) => {
    const { socket, ready } = open(target)
    let data = ''
    let settled = false
    const done = (outcome: Outcome, code?: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ outcome, data, ms: performance.now() - start, ...(code ? { code } : {}) })
    }
    const timer = setTimeout(() => done('timeout'), timeoutMs)
    socket.setNoDelay(true)
    socket.setEncoding('utf8')
    socket.on(ready, () => socket.write(line))
    socket.on('data', (chunk: string) => {
      data += chunk
      if (untilBytes !== undefined ? data.length >= untilBytes : !untilClose && data.includes('\n')) {
        done('answered')
      }
    })
    socket.on('end', () => done(data.length > 0 ? 'answered' : 'closed'))
    socket.on('close', () => done(data.length > 0 ? 'answered' : 'closed'))
    socket.on('error', (error: NodeJS.ErrnoException) =>
      done(error.code === 'ECONNRESET' && data.length === 0 ? 'closed' : 'error', error.code),
    )
  })
}

/**
 * Sends `line` on an open connection; resolves with the reply line (trimmed), `'closed'` when the
 * connection closed first, or `'timeout'` after `timeoutMs`.
 */
export function ask(socket: net.Socket, line: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve) => {
    let data = ''
    const onData = (chunk: Buffer | string) => {
      data += chunk.toString()
      if (data.includes('\n')) done(data.trim())
    }
    const onClose = () => done('closed')
    const timer = setTimeout(() => done('timeout'), timeoutMs)
    const done = (answer: string) => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
      resolve(answer)
    }
    socket.on('data', onData)
    socket.once('close', onClose)
    socket.on('error', () => {})
    socket.write(line)
  })
}

/** Connects and resolves with the open socket (or rejects with the connect error). */
export function connect(target: Target, timeoutMs = 5_000) {
  return new Promise<net.Socket>((resolve, reject) => {
    const { socket, ready } = open(target)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error('connect timed out'))
    }, timeoutMs)
    socket.once(ready, () => {
      clearTimeout(timer)
      resolve(socket)
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

/** Resolves when `socket` has closed, with how long that took; `timeoutMs` bounds the wait (then `undefined`). */
export function closedWithin(socket: net.Socket, timeoutMs: number): Promise<number | undefined> {
  const start = performance.now()
  if (socket.destroyed) return Promise.resolve(0)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(performance.now() - start)
    })
  })
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}
