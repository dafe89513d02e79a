import os from 'node:os'
import { parseArgs } from 'node:util'
import type { ScenarioRun } from './run.js'
import { type RunSettings, type Scenario, scenarios } from './scenarios/index.js'

export interface Options {
  /** Scenarios in the order they run, each with its settings and servers. */
  runs: ScenarioRun[]
  /** Every scenario, default servers: the run that writes docs/benchmarks.md by default. */
  complete: boolean
  smoke: boolean
  profile: boolean
  profileDir: string | undefined
  /** Extra flags for every Node server process (e.g. --perf-basic-prof). */
  nodeFlags: string[]
  json: string | undefined
  /** Where the Markdown report goes: a path, the default (undefined), or false for none. */
  docs: string | false | undefined
  /** Worker threads of the load generator (connections are shared out between them). */
  loadgenThreads: number
  /** The command line as given, for the report. */
  argv: string[]
}

export class UsageError extends Error {}

/**
 * One event loop of the load generator saturates first on the cheapest servers (a connection per
 * request against raw node:net): one thread per core by default.
 */
export const DEFAULT_LOADGEN_THREADS = Math.min(4, os.availableParallelism())

export function helpText(): string {
  const list = scenarios
    .map((s) => {
      const servers = s.servers
        .map((server) => {
          const tags = [
            s.defaultServers.includes(server.id) ? 'default' : '',
            (s.smokeServers ?? s.defaultServers).includes(server.id) ? 'smoke' : '',
          ].filter(Boolean)
          return `      ${server.id.padEnd(22)} ${server.label}${tags.length ? ` (${tags.join(', ')})` : ''}`
        })
        .join('\n')
      const f = s.full
      const m = s.smoke
      const targets = s.comparisons
        .map(
          (c) =>
            `${c.subject} ${c.target === undefined ? 'vs' : `${s.metric === 'bytesPerConnection' ? '<=' : '>='} ${c.target} x`} ${c.baseline}`,
        )
        .join('; ')
      return (
        `  ${s.name}: ${s.description}\n` +
        `    full:  ${f.rounds} rounds x ${f.durationMs} ms, warm-up ${f.warmupMs} ms, ${f.connections} connections, ${f.messageSize} B\n` +
        `    smoke: ${m.rounds} rounds x ${m.durationMs} ms, warm-up ${m.warmupMs} ms, ${m.connections} connections, ${m.messageSize} B\n` +
        `    ratios: ${targets} (${s.metric ?? 'requestsPerSecond'})\n` +
        `    servers:\n${servers}`
      )
    })
    .join('\n')
  return `Usage: socketserver-bench [options]   (pnpm bench -- [options])

Runs each server in its own process and a load generator in another, alternating the servers
round by round so machine drift cancels; prints medians, ratios and PASS/FAIL on the targets.
A full run of every scenario writes docs/benchmarks.md (a table and an SVG chart).

Options:
  --scenario NAMES     comma-separated scenarios, or all (default: all, in the order below)
  --smoke              a few seconds per scenario; same tables, never fails on a target (for CI)
  --rounds N           measured rounds per server
  --duration TIME      length of one round (ms, or with a unit: 500ms, 3s)
  --warmup TIME        unmeasured run per server before the rounds (0 to skip)
  --connections N      concurrent connections (one scenario only)
  --size BYTES         message size (one scenario only)
  --servers IDS        comma-separated server ids, in round order (one scenario only)
  --profile            run Node servers with --cpu-prof and print where their time goes
  --profile-dir DIR    where the .cpuprofile files go (default: a new temporary directory)
  --node-flags=FLAGS   extra flags for the Node server processes, space-separated, after an '='
                       (e.g. --node-flags=--perf-basic-prof to attach perf)
  --loadgen-threads N  split the load generator's connections over N worker threads (default
                       ${DEFAULT_LOADGEN_THREADS}: one per core, at most 4; 1 runs them on its main thread; idle
                       always uses one, it reads the server's memory around all its connections)
  --json FILE          also write every figure as JSON to FILE
  --docs FILE          write the Markdown report (and its .svg chart beside it) to FILE
                       (default: docs/benchmarks.md after a full run of every scenario)
  --no-docs            write no Markdown report
  -h, --help           this text

Exit status: 0 on PASS (or in --smoke), 1 on FAIL, 2 when the harness itself failed.

Scenarios:
${list}
`
}

/** "3000", "3000ms", "3s", "0.5s" -> ms. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim())
  if (!match)
    throw new UsageError(`${flag}: expected a time such as 3000, 500ms or 3s; got ${JSON.stringify(text)}`)
  const value = Number(match[1]) * (match[2] === 's' ? 1000 : 1)
  return Math.round(value)
}

function parseCount(text: string, flag: string, min: number, max: number): number {
  const value = Number(text)
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
    throw new UsageError(
      `${flag}: expected a whole number from ${min} to ${max}; got ${JSON.stringify(text)}`,
    )
  }
  return value
}

/** Parses argv; returns 'help' for --help. Throws UsageError on anything wrong. */
export function parseOptions(argv: string[]): Options | 'help' {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      // `pnpm bench -- --rounds 3` hands the `--` on: drop it, so both spellings work.
      args: argv[0] === '--' ? argv.slice(1) : argv,
      strict: true,
      allowPositionals: false,
      options: {
        scenario: { type: 'string' },
        smoke: { type: 'boolean' },
        rounds: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string' },
        size: { type: 'string' },
        servers: { type: 'string' },
        profile: { type: 'boolean' },
        'profile-dir': { type: 'string' },
        'node-flags': { type: 'string' },
        json: { type: 'string' },
        docs: { type: 'string' },
        'no-docs': { type: 'boolean' },
        'loadgen-threads': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  if (values.help) return 'help'
  const str = (key: string) => values[key] as string | undefined

  const names = (str('scenario') ?? 'all')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const chosen: Scenario[] = []
  for (const name of names) {
    const found = name === 'all' ? scenarios : scenarios.filter((s) => s.name === name)
    if (!found.length) {
      throw new UsageError(
        `--scenario: unknown ${JSON.stringify(name)}; known: all, ${scenarios.map((s) => s.name).join(', ')}`,
      )
    }
    for (const s of found) if (!chosen.includes(s)) chosen.push(s)
  }
  if (!chosen.length) throw new UsageError('--scenario: name at least one scenario')
  for (const flag of ['connections', 'size', 'servers']) {
    if (str(flag) !== undefined && chosen.length > 1)
      throw new UsageError(`--${flag}: applies to one scenario; name it with --scenario`)
  }

  const smoke = values.smoke === true
  const runs: ScenarioRun[] = chosen.map((scenario) => {
    const settings: RunSettings = { ...(smoke ? scenario.smoke : scenario.full) }
    if (str('rounds') !== undefined) settings.rounds = parseCount(str('rounds')!, '--rounds', 1, 1000)
    if (str('duration') !== undefined) settings.durationMs = parseDuration(str('duration')!, '--duration')
    if (str('warmup') !== undefined) settings.warmupMs = parseDuration(str('warmup')!, '--warmup')
    if (str('connections') !== undefined) {
      settings.connections = parseCount(str('connections')!, '--connections', 1, 100_000)
    }
    if (str('size') !== undefined) settings.messageSize = parseCount(str('size')!, '--size', 1, 16 << 20)
    if (settings.durationMs < 50 || settings.durationMs > 600_000) {
      throw new UsageError('--duration: from 50 ms to 600 s')
    }
    if (settings.warmupMs > 600_000) throw new UsageError('--warmup: at most 600 s')
    const serverIds = str('servers')
      ? str('servers')!
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [...(smoke ? (scenario.smokeServers ?? scenario.defaultServers) : scenario.defaultServers)]
    for (const id of serverIds) {
      if (!scenario.servers.some((s) => s.id === id)) {
        throw new UsageError(
          `--servers: unknown ${JSON.stringify(id)}; known: ${scenario.servers.map((s) => s.id).join(', ')}`,
        )
      }
    }
    if (serverIds.length === 0) throw new UsageError('--servers: name at least one server')
    if (new Set(serverIds).size !== serverIds.length)
      throw new UsageError('--servers: a server is named twice')
    return { scenario, settings, serverIds }
  })
  if (str('docs') !== undefined && values['no-docs']) throw new UsageError('--docs and --no-docs: pick one')

  return {
    runs,
    complete: chosen.length === scenarios.length && str('servers') === undefined,
    smoke,
    profile: values.profile === true || str('profile-dir') !== undefined,
    profileDir: str('profile-dir'),
    nodeFlags: (str('node-flags') ?? '').split(/\s+/).filter(Boolean),
    json: str('json'),
    docs: values['no-docs'] ? false : str('docs'),
    loadgenThreads:
      str('loadgen-threads') === undefined
        ? DEFAULT_LOADGEN_THREADS
        : parseCount(str('loadgen-threads')!, '--loadgen-threads', 1, 16),
    argv,
  }
}
