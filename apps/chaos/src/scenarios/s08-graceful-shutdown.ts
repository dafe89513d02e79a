import type net from 'node:net'
import { performance } from 'node:perf_hooks'
import { connect } from '../client.js'
import { sleep, startServer, waitUntil } from '../proc.js'
import type { Scenario } from '../scenario.js'

const CLIENTS = 200
const WORK_MS = 1_500
const DRAIN_MS = 5_000

/** Resolves with the reply line (then ends the connection, as a request-reply client does), or `'closed'`. */
function reply(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let data = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      data += chunk
      if (data.includes('\n')) {
        socket.end()
        resolve(data.trim())
      }
    })
    socket.on('close', () => resolve(data.trim() || 'closed'))
    socket.on('error', () => {})
  })
}

export const gracefulShutdown: Scenario = {
  id: 8,
  title: 'Graceful shutdown under load',
  async run(r) {
    r.set({
      servers: `EventLoopTCPServer with core's shutdownOnSignals (drain timeout ${DRAIN_MS} ms); each request takes ${WORK_MS} ms`,
      load: `${CLIENTS} clients mid-request at the signal`,
      faults: 'SIGTERM under load; then, on a server whose requests hang, SIGTERM twice',
    })
    const server = await startServer(
      'drain',
      { drainTimeout: DRAIN_MS },
      { env: { CHAOS_WORK_MS: String(WORK_MS) } },
    )
    const target = { port: server.ready.port }
    const sockets: net.Socket[] = []
    try {
      for (let i = 0; i < CLIENTS; i++) sockets.push(await connect(target))
      const replies = sockets.map((socket, i) => {
        const answer = reply(socket)
        socket.write(`r${i}\n`)
        return answer
      })
      await waitUntil(
        async () => (await server.stats()).active === CLIENTS,
        5_000,
        'every request to be in flight',
      )
      const signalled = performance.now()
      server.signal('SIGTERM')
      await waitUntil(() => server.messages.some((m) => m.signal), 2_000, 'the server to see the signal')
      const refused = await connect(target, 2_000).then(
        (socket) => {
          socket.destroy()
          return 'connected'
        },
        (error: NodeJS.ErrnoException) => error.code ?? error.message,
      )
      const answers = await Promise.all(replies)
      const exit = await Promise.race([server.exited, sleep(DRAIN_MS + 5_000).then(() => undefined)])
      const exitedAfter = performance.now() - signalled
      const good = answers.filter((a, i) => a === `ok:r${i}`).length
      const closed = server.messages.find((m) => m.closed)
      r.figure('drain', {
        answered: good,
        refused,
        exit,
        exitedAfterMs: exitedAfter,
        aborted: closed?.aborted,
      })
      r.check('nothing cut short at the drain timeout', closed?.aborted === 0, closed)
      r.check('every request accepted before the signal completed', good === CLIENTS, `${good} of ${CLIENTS}`)
      r.check('new connections refused after the signal', refused === 'ECONNREFUSED', refused)
      r.bound(
        'exit after SIGTERM',
        `≤ drain timeout ${DRAIN_MS} ms`,
        `${exitedAfter.toFixed(0)} ms, ${JSON.stringify(exit)}`,
        exit?.code === 0 && exitedAfter <= DRAIN_MS,
      )
      r.set({ lost: CLIENTS - good })
    } finally {
      for (const socket of sockets) socket.destroy()
      await server.kill()
    }
    // A second SIGTERM forces the exit, though requests hang and the drain timeout is long.
    const stuck = await startServer('drain', { drainTimeout: 60_000 })
    const held: net.Socket[] = []
    try {
      for (let i = 0; i < 5; i++) {
        const socket = await connect({ port: stuck.ready.port })
        socket.on('error', () => {})
        socket.write('hang\n')
        held.push(socket)
      }
      await waitUntil(async () => (await stuck.stats()).active === 5, 5_000, 'the hanging requests')
      stuck.signal('SIGTERM')
      await waitUntil(() => stuck.messages.some((m) => m.signal), 2_000, 'the first signal')
      await sleep(300)
      r.check(
        'after one SIGTERM the server still drains (requests hang, drain timeout 60 s)',
        !stuck.hasExited(),
      )
      const second = performance.now()
      stuck.signal('SIGTERM')
      const exit = await Promise.race([stuck.exited, sleep(5_000).then(() => undefined)])
      r.bound(
        'exit after a second SIGTERM',
        '≤ 1 s, code 143',
        `${(performance.now() - second).toFixed(0)} ms, ${JSON.stringify(exit)}`,
        exit?.code === 143 && performance.now() - second <= 1_000,
      )
    } finally {
      for (const socket of held) socket.destroy()
      await stuck.kill()
    }
  },
}
