import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { processTreeRssBytes } from '../proc-cpu.js'
import type { RunRequest, RunResult } from '../protocol.js'
import { LatencyHistogram } from '../stats.js'
import { beginWindow, sleep } from './window.js'

/** Connections opened at once: well inside the servers' backlog of 511. */
const BATCH = 200
const CONNECT_TIMEOUT_MS = 10_000
/** Time for the server to settle (handlers set up, garbage collected) before its memory is read. */
const SETTLE_MS = 500

/** Connections per source address: inside the ephemeral port range (32768-60999 by default). */
const PER_SOURCE = 20_000

/**
 * Past PER_SOURCE connections to 127.0.0.1, the next ones come from 127.0.0.2, 127.0.0.3, ...: one
 * source address has too few ephemeral ports for 50 000 connections to one server port.
 */
function sourceAddress(host: string, index: number): { localAddress?: string } {
  if (host !== '127.0.0.1' || index < PER_SOURCE) return {}
  return { localAddress: `127.0.0.${1 + Math.floor(index / PER_SOURCE)}` }
}

/**
 * Idle connections: reads the server's memory (its process and children: a fork pool's), opens
 * `connections` connections (in batches), sends one newline on each (a line, for line handlers) and
 * waits for its echo (so the server has set up a handler for every one), waits
 * a little, reads the server's memory again, then closes them all. `requests` is the connections
 * that came up; `elapsedMs` the time it took.
 */
export async function tcpIdle(req: RunRequest, histogram = new LatencyHistogram()): Promise<RunResult> {
  const { host, port, path, connections, serverPid } = req
  if (serverPid === undefined) throw new Error('tcp-idle needs the server pid')
  const sockets: net.Socket[] = []
  let errors = 0
  let firstError: string | undefined
  const before = processTreeRssBytes(serverPid)

  const open = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now()
      const socket =
        path === undefined
          ? net.connect({ host, port, noDelay: true, ...sourceAddress(host, sockets.length) })
          : net.connect({ path })
      sockets.push(socket)
      const timer = setTimeout(() => fail(`no echo in ${CONNECT_TIMEOUT_MS} ms`), CONNECT_TIMEOUT_MS)
      const fail = (message: string) => {
        clearTimeout(timer)
        errors++
        firstError ??= message
        socket.destroy()
        resolve()
      }
      socket.once('error', (error) => fail(error.message))
      socket.once('connect', () => socket.write('\n'))
      socket.once('data', (data) => {
        clearTimeout(timer)
        if (data.toString() !== '\n') return fail('echo differs from what was sent')
        histogram.record((performance.now() - t0) * 1000)
        resolve()
      })
    })

  const end = beginWindow()
  const start = performance.now()
  for (let i = 0; i < connections; i += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, connections - i) }, open))
  }
  const elapsedMs = performance.now() - start
  const stats = end()
  await sleep(SETTLE_MS)
  const after = processTreeRssBytes(serverPid)

  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed) return resolve()
          socket.once('close', () => resolve())
          socket.on('error', () => {})
          socket.destroy()
        }),
    ),
  )
  return {
    requests: connections - errors,
    elapsedMs,
    latency: histogram.summary(),
    ...stats,
    errors,
    ...(before === undefined ? {} : { serverRssBefore: before }),
    ...(after === undefined ? {} : { serverRssAfter: after }),
    ...(firstError === undefined ? {} : { firstError }),
  }
}
