import { readFileSync } from 'node:fs'
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import type { RunRequest, RunResult } from '../protocol.js'
import { LatencyHistogram } from '../stats.js'
import { beginWindow, sleep } from './window.js'

/** Connections opened at once: well inside the servers' backlog of 511. */
const BATCH = 200
const CONNECT_TIMEOUT_MS = 10_000
/** Time for the server to settle (handlers set up, garbage collected) before its memory is read. */
const SETTLE_MS = 500

/** Resident memory of a process, bytes, from /proc/<pid>/status. */
export function rssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s*(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/**
 * Idle connections: reads the server's memory, opens `connections` connections (in batches), sends
 * one byte on each and waits for its echo (so the server has set up a handler for every one), waits
 * a little, reads the server's memory again, then closes them all. `requests` is the connections
 * that came up; `elapsedMs` the time it took.
 */
export async function tcpIdle(req: RunRequest, histogram = new LatencyHistogram()): Promise<RunResult> {
  const { host, port, path, connections, serverPid } = req
  if (serverPid === undefined) throw new Error('tcp-idle needs the server pid')
  const sockets: net.Socket[] = []
  let errors = 0
  let firstError: string | undefined
  const before = rssBytes(serverPid)

  const open = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now()
      const socket = path === undefined ? net.connect({ host, port, noDelay: true }) : net.connect({ path })
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
      socket.once('connect', () => socket.write('x'))
      socket.once('data', (data) => {
        clearTimeout(timer)
        if (data.toString() !== 'x') return fail('echo differs from what was sent')
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
  const after = rssBytes(serverPid)

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
