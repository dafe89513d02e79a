import net from 'node:net'
import { performance } from 'node:perf_hooks'

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
  target: { host?: string; port?: number; path?: string },
  line: string,
  {
    timeoutMs = 5_000,
    untilClose = true,
    untilBytes,
  }: { timeoutMs?: number; untilClose?: boolean; untilBytes?: number } = {},
): Promise<Exchange> {
  const start = performance.now()
  return new Promise((resolve) => {
    const socket = target.path
      ? net.connect({ path: target.path })
      : net.connect({ host: target.host ?? '127.0.0.1', port: target.port! })
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
    socket.on('connect', () => socket.write(line))
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

/** Connects and resolves with the open socket (or rejects with the connect error). */
export function connect(target: { host?: string; port?: number; path?: string }, timeoutMs = 5_000) {
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = target.path
      ? net.connect({ path: target.path })
      : net.connect({ host: target.host ?? '127.0.0.1', port: target.port! })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error('connect timed out'))
    }, timeoutMs)
    socket.once('connect', () => {
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
