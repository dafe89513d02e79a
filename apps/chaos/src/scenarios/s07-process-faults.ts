import { exchange } from '../client.js'
import { groupAlive, processState, runLoad, sleep, startServer, waitUntil } from '../proc.js'
import type { Recorder, Scenario } from '../scenario.js'

const CONNECTIONS = 40
const DURATION_MS = 6_000

async function faultUnderLoad(r: Recorder, mode: 'fork' | 'thread') {
  const server = await startServer('pool', { mode })
  const target = { port: server.ready.port }
  try {
    const load = runLoad(
      'persistent-lines',
      { ...target, connections: CONNECTIONS, durationMs: DURATION_MS, requestTimeoutMs: 5_000 },
      DURATION_MS + 20_000,
    )
    await sleep(2_000)
    let killed: number | undefined
    if (mode === 'fork') {
      const { children } = await server.stats()
      killed = children[0] as number
      process.kill(killed, 'SIGKILL')
    } else {
      // A handler ends its own worker thread mid-request (process.exit in a worker ends the thread).
      void exchange(target, 'die\n', { timeoutMs: 3_000 })
    }
    const result = await load
    const stats = await server.stats()
    r.figure(`${mode}: client`, result)
    r.figure(`${mode}: server`, stats)
    const label = mode === 'fork' ? 'SIGKILLed child' : 'terminated worker thread'
    r.check(
      `${mode}: the server continued (requests answered under load)`,
      result.answered > CONNECTIONS && !server.hasExited(),
      `${result.answered} answered`,
    )
    r.check(
      `${mode}: replacement started after the ${label}`,
      (stats.lifecycle.replace ?? 0) >= 1,
      stats.lifecycle,
    )
    r.check(
      `${mode}: the affected clients saw their connection closed`,
      result.closedMidRequest >= 1,
      `${result.closedMidRequest} closed mid-request`,
    )
    r.check(`${mode}: no client hung`, result.hung === 0, `${result.hung} requests without reply in 5 s`)
    r.check(
      `${mode}: handleError told of the exit (SOCKSRV_WORKER_EXITED)`,
      (stats.byCode.SOCKSRV_WORKER_EXITED ?? 0) >= 1,
      stats.byCode,
    )
    const after = await exchange(target, 'after\n', { untilClose: false })
    r.check(`${mode}: serves a new client afterwards`, after.data === 'ok:after\n', after)
    if (killed !== undefined) {
      r.check(
        'fork: the killed child was reaped (no zombie)',
        processState(killed) === undefined,
        `state ${processState(killed) ?? 'gone'}`,
      )
      r.check(
        'fork: the pool is back to 2 children',
        stats.children.length === 2 && !stats.children.includes(killed),
        stats.children,
      )
    }
    server.signal('SIGTERM')
    const exit = await Promise.race([server.exited, sleep(10_000).then(() => undefined)])
    r.check(`${mode}: SIGTERM stops the server`, exit !== undefined, exit)
    await waitUntil(() => !groupAlive(server.pid), 3_000, 'its process group to be empty').catch(() => {})
    r.check(`${mode}: no orphan left (the server's process group is empty)`, !groupAlive(server.pid))
    return result.hung
  } finally {
    await server.kill()
  }
}

export const processFaults: Scenario = {
  id: 7,
  title: 'Process and thread faults',
  async run(r) {
    r.set({
      servers:
        'ForkingTCPServer (pool of 2 children), ThreadingTCPServer (pool of 2 threads); line handler doing 20 ms of work per request',
      load: `${CONNECTIONS} persistent connections sending requests back to back for ${DURATION_MS / 1000} s, per mode`,
      faults:
        'SIGKILL of a forked child mid-request; process.exit() inside a worker thread mid-request; then SIGTERM',
    })
    const hungFork = await faultUnderLoad(r, 'fork')
    const hungThread = await faultUnderLoad(r, 'thread')
    r.set({ lost: hungFork + hungThread })
  },
}
