import type net from 'node:net'
import { connect, exchange } from '../client.js'
import { openFds, sleep, startServer, waitUntil } from '../proc.js'
import type { Scenario } from '../scenario.js'

const LIMIT = 256
const CONNECTIONS = 400
const HOLD_MS = 6_000

/** Whether `socket` echoes a line within `ms` (it was accepted and is being served). */
function echoes(socket: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(false)
    const timer = setTimeout(() => done(false), ms)
    const done = (ok: boolean) => {
      clearTimeout(timer)
      socket.off('data', onData)
      resolve(ok)
    }
    const onData = (chunk: Buffer) => chunk.toString().includes('x') && done(true)
    socket.on('data', onData)
    socket.once('close', () => done(false))
    socket.write('x\n')
  })
}

export const descriptorExhaustion: Scenario = {
  id: 6,
  title: 'Descriptor exhaustion',
  async run(r) {
    r.set({
      servers: `echo server app (event-loop TCP) under \`ulimit -n ${LIMIT}\``,
      load: `${CONNECTIONS} connections opened at once and held ${HOLD_MS / 1000} s, then closed; then new clients`,
      faults: `the process runs out of descriptors (EMFILE on accept) with ${CONNECTIONS} clients against a limit of ${LIMIT}`,
    })
    const server = await startServer('echo', { idleTimeout: 60_000 }, { ulimitFiles: LIMIT })
    const target = { port: server.ready.port }
    const sockets: net.Socket[] = []
    try {
      const fdsBefore = openFds(server.pid)
      const started = Date.now()
      const attempts = await Promise.allSettled(
        Array.from({ length: CONNECTIONS }, () => connect(target, 5_000)),
      )
      for (const a of attempts) {
        if (a.status === 'fulfilled') {
          a.value.on('error', () => {})
          sockets.push(a.value)
        }
      }
      await sleep(HOLD_MS / 2)
      const served = (await Promise.all(sockets.map((s) => echoes(s, 2_000)))).filter(Boolean).length
      const fdsAtPeak = openFds(server.pid)
      await sleep(Math.max(0, HOLD_MS - (Date.now() - started)))
      r.check('the server survives the exhaustion', !server.hasExited(), `pid ${server.pid}`)
      for (const socket of sockets) socket.destroy()
      await waitUntil(() => openFds(server.pid) <= fdsBefore + 5, 10_000, 'the descriptors to be freed')
      const after = await Promise.all(
        Array.from({ length: 20 }, (_, i) => exchange(target, `after ${i}\n`, { untilClose: false })),
      )
      const seconds = (Date.now() - started) / 1000
      const stats = await server.stats()
      const logLines = server
        .stderr()
        .split('\n')
        .filter((line) => line.includes('listener error')).length
      const errors = Object.values(stats.listenerErrors as Record<string, number>).reduce((a, b) => a + b, 0)
      r.figure('server', { ...stats, fdsBefore, fdsAtPeak, logLines, servedWhileExhausted: served })
      r.check(
        `connections the kernel completed (backlog ${511})`,
        sockets.length === CONNECTIONS,
        `${sockets.length} of ${CONNECTIONS}`,
      )
      r.check(
        'the exhaustion was detected and reported (EMFILE on socketserver:server:error)',
        (stats.listenerErrors.EMFILE ?? 0) > 0,
        stats.listenerErrors,
      )
      r.check(
        'connections accepted up to the limit were served',
        served > 0 && served < CONNECTIONS,
        `${served} echoed while exhausted, ${fdsAtPeak} descriptors open (limit ${LIMIT})`,
      )
      r.bound(
        'log lines about the condition',
        `≤ 1 per 10 s (${Math.ceil(seconds / 10)} over ${seconds.toFixed(0)} s)`,
        `${logLines} line(s) for ${errors} listener error(s)`,
        logLines >= 1 && logLines <= Math.ceil(seconds / 10),
      )
      const good = after.filter((e) => e.data.startsWith('after')).length
      r.check(
        'serves again once descriptors free up',
        good === after.length,
        `${good} of ${after.length} new clients echoed`,
      )
      r.set({ lost: after.length - good })
    } finally {
      for (const socket of sockets) socket.destroy()
      await server.kill()
    }
  },
}
