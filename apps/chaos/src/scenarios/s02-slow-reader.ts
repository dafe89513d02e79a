import { performance } from 'node:perf_hooks'
import { closedWithin, connect, exchange } from '../client.js'
import { bytesRead, memory, type ServerProcess, sleep, startServer } from '../proc.js'
import type { Recorder, Scenario } from '../scenario.js'

const SEND_BYTES = 100 * 1024 * 1024
const WRITE_DEADLINE_MS = 2_000
const MEMORY_BOUND_MIB = 32

/** Samples the server's resident memory every 25 ms until stopped; resolves with the highest. */
export function sampleMemory(server: ServerProcess): { stop(): Promise<number> } {
  let highest = memory(server.pid).rss
  let running = true
  const done = (async () => {
    while (running && !server.hasExited()) {
      highest = Math.max(highest, memory(server.pid).rss)
      await sleep(25)
    }
    return highest
  })()
  return {
    stop: async () => {
      running = false
      return done
    },
  }
}

/** Baseline resident memory after a warm-up request, so start-up growth is not counted. */
export async function baseline(server: ServerProcess, warmUp: () => Promise<unknown>): Promise<number> {
  await warmUp()
  await sleep(200)
  return memory(server.pid).rss
}

export function memoryBound(r: Recorder, base: number, peak: number, bound: number): void {
  r.figure('memory', { baselineMiB: base, peakMiB: peak, boundMiB: bound })
  r.bound(
    "server's resident memory above its baseline",
    `≤ ${bound} MiB`,
    `${(peak - base).toFixed(1)} MiB (baseline ${base.toFixed(1)}, peak ${peak.toFixed(1)})`,
    peak - base <= bound,
  )
}

export const slowReader: Scenario = {
  id: 2,
  title: 'Slow reader',
  async run(r) {
    r.set({
      servers: `echo server app (startEchoServer, event-loop TCP; idle/write deadline ${WRITE_DEADLINE_MS} ms)`,
      load: 'one client sending 100 MB at once, never reading its echo',
      faults: 'a peer that stops reading: the echo backs up into the server',
      badInputs: '100 MB written in one call',
    })
    const server = await startServer('echo', { idleTimeout: WRITE_DEADLINE_MS })
    const target = { port: server.ready.port }
    try {
      const base = await baseline(server, () => exchange(target, 'warm up\n', { untilClose: false }))
      const sampler = sampleMemory(server)
      const socket = await connect(target)
      socket.pause() // never read
      socket.on('error', () => {})
      const started = performance.now()
      socket.write(Buffer.alloc(SEND_BYTES, 0x61))
      const readBefore = bytesRead(server.pid)
      const closedAfter = await closedWithin(socket, 30_000)
      const taken = bytesRead(server.pid) - readBefore
      socket.destroy()
      const peak = await sampler.stop()
      const stats = await server.stats()
      r.figure('server', stats)
      r.figure('client', { closedAfterMs: closedAfter, bytesTakenByServer: taken })
      r.check(
        'the server closed the connection',
        closedAfter !== undefined,
        `after ${closedAfter?.toFixed(0)} ms`,
      )
      r.bound(
        'connection closed after the stall',
        `write deadline ${WRITE_DEADLINE_MS} ms + filling the buffers, < 10 s`,
        `${(performance.now() - started).toFixed(0)} ms from the 100 MB write`,
        closedAfter !== undefined && closedAfter < 10_000,
      )
      r.check('closed by the deadline (counted as an idle/stuck close)', stats.idleClosed === 1, stats)
      r.check(
        'the server stopped reading: it read a fraction of the 100 MB (rchar)',
        taken < SEND_BYTES / 4,
        `${(taken / 1024 / 1024).toFixed(1)} MiB taken`,
      )
      memoryBound(r, base, peak, MEMORY_BOUND_MIB)
      const after = await exchange(target, 'still there\n', { untilClose: false })
      r.check('the server serves on', after.data === 'still there\n', after)
      r.set({ lost: 0 })
    } finally {
      await server.kill()
    }
  },
}
