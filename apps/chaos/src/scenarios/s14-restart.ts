import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { processState, runLoad, sleep, spawnInGroup, waitUntil } from '../proc.js'
import type { Scenario } from '../scenario.js'

const PER_REQUEST = 80
const SESSIONS = 40
const LINES_PER_SESSION = 20
const GAP_MS = 50
const RESTARTS = 5
const LOAD_MS = 14_000

interface MixedResult {
  sent: number
  answered: number
  connections: number
  refused: number
  reset: number
  closedUnanswered: number
  wrong: number
  timeouts: number
  otherErrors: Record<string, number>
}

/** The echo CLI, as a user runs it. */
function echoCli(): string {
  const manifest = createRequire(import.meta.url).resolve('@socketserver/echo-server/package.json')
  return join(dirname(manifest), 'dist', 'cli.js')
}

export const restart: Scenario = {
  id: 14,
  title: 'Restart without dropping a connection: 5 SIGHUPs in a row under load',
  async run(r) {
    r.set({
      servers:
        'the echo CLI (EventLoopTCPServer), restarted by SIGHUP: restartProcess() hands the listening socket to a new process, which adopts it; the old one drains and exits',
      load: `${PER_REQUEST} connection-per-request loops and ${SESSIONS} sessions of ${LINES_PER_SESSION} lines ${GAP_MS} ms apart (${PER_REQUEST + SESSIONS} connections at once), for ${LOAD_MS / 1000} s`,
      faults: `${RESTARTS} restarts in a row (SIGHUP to the newest process as soon as it serves)`,
      badInputs: 'none',
    })
    const child = spawnInGroup(process.execPath, [echoCli(), '--port', '0', '--drain-timeout', '10000'])
    let out = ''
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    let err = ''
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
    await waitUntil(
      () => /listening on tcp 127\.0\.0\.1:(\d+)/.test(out),
      15_000,
      'the echo server to listen',
    )
    const port = Number(/listening on tcp 127\.0\.0\.1:(\d+)/.exec(out)![1])
    const load = runLoad<MixedResult>(
      'echo-mixed',
      {
        port,
        perRequest: PER_REQUEST,
        sessions: SESSIONS,
        linesPerSession: LINES_PER_SESSION,
        gapMs: GAP_MS,
        durationMs: LOAD_MS,
      },
      LOAD_MS + 30_000,
    )
    await sleep(1_500) // load at full speed first
    const restarts: Array<{ from: number; to: number; readyMs: number; oldExitMs?: number }> = []
    const exits: Array<Promise<void>> = []
    let current = child.pid!
    for (let i = 0; i < RESTARTS; i++) {
      const before = out.match(/process \d+ serves now/g)?.length ?? 0
      const signalled = performance.now()
      process.kill(current, 'SIGHUP')
      await waitUntil(
        () => (out.match(/process \d+ serves now/g)?.length ?? 0) > before,
        15_000,
        `restart ${i + 1}`,
      )
      const readyMs = performance.now() - signalled
      const next = Number([...out.matchAll(/process (\d+) serves now/g)].at(-1)![1])
      const entry: (typeof restarts)[number] = { from: current, to: next, readyMs }
      restarts.push(entry)
      const handedOver = performance.now()
      // How long the old process takes to drain its connections and exit.
      exits.push(
        waitUntil(() => (processState(entry.from) ?? 'Z') === 'Z', 15_000, 'the old process to exit').then(
          () => void (entry.oldExitMs = performance.now() - handedOver),
          () => {},
        ),
      )
      current = next
      await sleep(500)
    }
    const result = await load
    await Promise.all(exits)
    // Every old process drained and exited: only the newest is left.
    const stopped = out.match(/echo: stopped:/g)?.length ?? 0
    await waitUntil(
      () => (out.match(/echo: stopped:/g)?.length ?? 0) >= RESTARTS,
      15_000,
      'the old processes to exit',
    ).catch(() => {})
    const oldExited = restarts.every(({ from }) => (processState(from) ?? 'Z') === 'Z')
    const drained = [...out.matchAll(/echo: stopped: .*?(\d+) cut short/g)].map((m) => Number(m[1]))
    const lost = result.sent - result.answered
    const times = restarts.map((x) => x.readyMs).sort((a, b) => a - b)
    r.figure('restart', { restarts, result, stoppedLinesAtLoadEnd: stopped, cutShort: drained })
    r.check(
      'every restart handed over (a new process said it serves)',
      restarts.length === RESTARTS,
      restarts,
    )
    r.check(
      'no connection refused',
      result.refused === 0,
      `${result.refused} of ${result.connections} connections`,
    )
    r.check('no connection reset', result.reset === 0, `${result.reset}`)
    r.check(
      'no request lost (every line sent came back, none closed unanswered, none timed out)',
      lost === 0 && result.closedUnanswered === 0 && result.timeouts === 0 && result.wrong === 0,
      `${result.answered} of ${result.sent} answered; ${result.closedUnanswered} closed unanswered, ${result.timeouts} timed out, ${result.wrong} wrong, other errors ${JSON.stringify(result.otherErrors)}`,
    )
    r.check(
      'load held through the restarts',
      result.connections >= 1_000,
      `${result.connections} connections, ${result.sent} requests`,
    )
    r.check(
      'each old process drained without cutting a connection short, then exited',
      drained.length >= RESTARTS && drained.every((n) => n === 0) && oldExited,
      `${drained.length} drained (cut short: ${drained.join(', ')}), all exited: ${oldExited}`,
    )
    r.bound(
      'restart time (SIGHUP to the new process serving)',
      '≤ 5 s each',
      `median ${times[Math.floor(times.length / 2)]!.toFixed(0)} ms, max ${times.at(-1)!.toFixed(0)} ms`,
      times.at(-1)! <= 5_000,
    )
    const drains = restarts.map((x) => x.oldExitMs ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b)
    r.bound(
      'old process drain and exit (from the handover)',
      `≤ drain timeout 10 s`,
      `median ${drains[Math.floor(drains.length / 2)]!.toFixed(0)} ms, max ${drains.at(-1)!.toFixed(0)} ms`,
      drains.at(-1)! <= 10_000,
    )
    r.set({ lost })
    if (err.trim()) r.figure('stderr', err.slice(-2_000))
  },
}
