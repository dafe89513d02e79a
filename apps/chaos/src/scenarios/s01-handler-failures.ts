import { exchange } from '../client.js'
import { runLoad, startServer } from '../proc.js'
import type { Scenario } from '../scenario.js'

const CONNECTIONS = 200
const DURATION_MS = 10_000

export const handlerFailures: Scenario = {
  id: 1,
  title: 'Handler failures under load',
  async run(r) {
    r.set({
      servers: 'EventLoopTCPServer + StreamRequestHandler (127.0.0.1)',
      load: `${CONNECTIONS} concurrent clients for ${DURATION_MS / 1000} s, each a loop of connect / one line / read to close`,
      faults: "every third request's handler throws (counted across the server) before answering",
    })
    const server = await startServer('every-third-throws')
    try {
      const load = await runLoad(
        'one-line-per-connection',
        { port: server.ready.port, connections: CONNECTIONS, durationMs: DURATION_MS },
        DURATION_MS + 30_000,
      )
      const stats = await server.stats()
      r.figure('client', load)
      r.figure('server', stats)
      const errors = Object.values(load.errors as Record<string, number>).reduce((a, b) => a + b, 0)
      r.check(
        'requests sent',
        load.sent > CONNECTIONS,
        `${load.sent} (${(load.sent / (DURATION_MS / 1000)).toFixed(0)}/s)`,
      )
      r.check(
        'every request the server took reached its handler',
        stats.requests === load.sent,
        `${stats.requests} handled of ${load.sent} sent`,
      )
      r.check(
        'every non-failing request answered correctly',
        load.answered === stats.answered && load.wrong === 0,
        `${load.answered} answered, ${load.wrong} wrong`,
      )
      r.check(
        'handleError count equals the failures injected',
        stats.handleError === stats.thrown,
        `${stats.handleError} handleError calls, ${stats.thrown} thrown`,
      )
      r.check(
        'the failed requests saw their connection closed, not a hang',
        load.closedUnanswered === stats.thrown && load.timeouts === 0,
        `${load.closedUnanswered} closed unanswered, ${load.timeouts} timed out`,
      )
      r.check(
        'a third of requests failed',
        Math.abs(stats.thrown - Math.floor(stats.requests / 3)) <= 1,
        `${stats.thrown} of ${stats.requests}`,
      )
      r.check('no client errors (resets, refused connects)', errors === 0, load.errors)
      const after = await exchange({ port: server.ready.port }, 'after\n')
      const again = await exchange({ port: server.ready.port }, 'again\n')
      r.check(
        'the server serves on afterwards',
        [after.data, again.data].some((d) => d.startsWith('echo:')),
        [after, again],
      )
      r.check('the server process is still running', !server.hasExited())
      r.set({ lost: load.sent - load.answered - stats.thrown })
      r.bound(
        'requests lost',
        '0',
        String(load.sent - load.answered - stats.thrown),
        load.sent - load.answered - stats.thrown === 0,
      )
    } finally {
      await server.kill()
    }
  },
}
