import type net from 'node:net'
import { performance } from 'node:perf_hooks'
import type { RunRequest, RunResult } from '../protocol.js'
import { LatencyHistogram } from '../stats.js'
import { netOpener, type Opener } from './tcp-connect.js'

const CONNECT_TIMEOUT_MS = 5_000
/** How long the round waits for pings still in flight at the deadline before closing. */
const DRAIN_TIMEOUT_MS = 2_000

interface Conn {
  socket: net.Socket
  /** Bytes of the current echo received so far. */
  got: number
  sentAt: number
  verified: boolean
  inFlight: boolean
}

/**
 * `connections` sockets, each with one `messageSize`-byte message in flight: send, wait for the
 * whole echo, record the round trip, send again, until `durationMs` has passed. On `path` when
 * given (a Unix socket). With `replySize`, the message is a line and the answer `replySize` bytes
 * ending in a newline (the CPU-bound handler's hash), not an echo.
 *
 * Kept cheap so that it is not the bottleneck: reads go through `onread` into one shared buffer
 * (no Buffer or 'data' event per read), writes reuse one payload Buffer, latencies go into a
 * preallocated histogram.
 */
export async function tcpPingPong(
  req: RunRequest,
  histogram = new LatencyHistogram(),
  open: Opener = netOpener,
): Promise<RunResult> {
  const { connections, durationMs, messageSize } = req
  const echo = req.replySize === undefined
  const replySize = req.replySize ?? messageSize
  const payload = Buffer.alloc(messageSize)
  for (let i = 0; i < messageSize; i++) payload[i] = 97 + (i % 26)
  // Always a line: the line handler echoes it as it is, and the echo servers do not care.
  payload[messageSize - 1] = 10
  const readBuffer = Buffer.allocUnsafe(64 * 1024)

  let measuring = false
  let deadline = Number.POSITIVE_INFINITY
  let completed = 0
  let errors = 0
  let firstError: string | undefined
  let inFlight = 0
  let drained: (() => void) | undefined

  const fail = (conn: Conn, message: string) => {
    errors++
    firstError ??= message
    if (conn.inFlight) settle(conn)
    conn.socket.destroy()
  }
  const settle = (conn: Conn) => {
    conn.inFlight = false
    if (--inFlight === 0) drained?.()
  }
  const send = (conn: Conn) => {
    conn.got = 0
    conn.inFlight = true
    inFlight++
    conn.sentAt = performance.now()
    conn.socket.write(payload)
  }

  // Every read lands in `readBuffer`, at offset 0.
  const onRead = (conn: Conn, n: number): boolean => {
    if (!conn.verified) {
      // Check the bytes once per connection: a server that does not echo must not score.
      if (echo && !readBuffer.subarray(0, n).equals(payload.subarray(conn.got, conn.got + n))) {
        fail(conn, 'echo differs from what was sent')
        return false
      }
      if (conn.got + n >= replySize) {
        if (!echo && readBuffer[n - 1] !== 10) {
          fail(conn, 'the reply does not end in a newline')
          return false
        }
        conn.verified = true
      }
    }
    conn.got += n
    if (conn.got < replySize) return true
    if (conn.got > replySize || !conn.inFlight) {
      fail(conn, `received ${conn.got} bytes for a ${replySize}-byte reply`)
      return false
    }
    const now = performance.now()
    settle(conn)
    if (now <= deadline) {
      completed++
      histogram.record((now - conn.sentAt) * 1000)
      if (measuring) send(conn)
    }
    return true
  }

  const conns: Conn[] = []
  const connectAll = Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<void>((resolve, reject) => {
          const conn = { got: 0, sentAt: 0, verified: false, inFlight: false } as Conn
          const onread = { buffer: readBuffer, callback: (n: number) => onRead(conn, n) }
          const { socket, ready } = open(req, onread)
          conn.socket = socket
          conns.push(conn)
          conn.socket.once(ready, resolve)
          conn.socket.once('error', reject)
        }),
    ),
  )
  let connectTimer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      connectAll,
      new Promise((_, reject) => {
        connectTimer = setTimeout(
          () => reject(new Error(`connecting ${connections} sockets took over ${CONNECT_TIMEOUT_MS} ms`)),
          CONNECT_TIMEOUT_MS,
        )
      }),
    ])
  } catch (error) {
    for (const conn of conns) conn.socket.destroy()
    throw error
  } finally {
    clearTimeout(connectTimer)
  }

  for (const conn of conns) {
    conn.socket.removeAllListeners('error')
    conn.socket.on('error', (error) => fail(conn, error.message))
    conn.socket.on('end', () => {
      if (measuring) fail(conn, 'server closed the connection during the round')
    })
  }

  const cpu0 = process.cpuUsage()
  const sleeps0 = process.resourceUsage().voluntaryContextSwitches
  const elu0 = performance.eventLoopUtilization()
  const start = performance.now()
  deadline = start + durationMs
  measuring = true
  for (const conn of conns) send(conn)

  await new Promise<void>((resolve) => setTimeout(resolve, durationMs))
  measuring = false
  const end = performance.now()
  const cpu = process.cpuUsage(cpu0)
  const sleeps = process.resourceUsage().voluntaryContextSwitches - sleeps0
  const elu = performance.eventLoopUtilization(elu0)

  // Let the pings in flight come back before closing, so servers see a clean EOF, not a reset.
  if (inFlight > 0) {
    await new Promise<void>((resolve) => {
      drained = resolve
      setTimeout(resolve, DRAIN_TIMEOUT_MS).unref()
    })
  }
  await Promise.all(
    conns.map(
      ({ socket }) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed) return resolve()
          const timer = setTimeout(() => socket.destroy(), DRAIN_TIMEOUT_MS)
          socket.once('close', () => {
            clearTimeout(timer)
            resolve()
          })
          socket.end()
          // The server's FIN comes back as 'end'; then there is nothing left to wait for.
          socket.once('end', () => socket.destroy())
        }),
    ),
  )

  return {
    requests: completed,
    elapsedMs: Math.min(end, deadline) - start,
    latency: histogram.summary(),
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    eventLoopUtilization: elu.utilization,
    voluntaryContextSwitches: sleeps,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  }
}
