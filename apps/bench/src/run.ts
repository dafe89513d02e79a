import { performance } from 'node:perf_hooks'
import type { Options } from './args.js'
import { processCpuMs, processSleeps } from './proc-cpu.js'
import { type ServerProcess, startLoadgen, startServerProcess } from './processes.js'
import type { RunResult } from './protocol.js'
import type { ServerSpec } from './scenarios/index.js'
import { median } from './stats.js'

export const HOST = '127.0.0.1'

export interface Sample {
  round: number
  server: string
  connections: number
  requestsPerSecond: number
  /** Server process CPU over the whole run (all threads), % of one core; undefined without /proc. */
  serverCpuPercent: number | undefined
  /** Server CPU per round trip, µs. */
  serverCpuUsPerRequest: number | undefined
  /** Server main-thread sleeps (voluntary context switches) per round trip; undefined without /proc. */
  serverSleepsPerRequest: number | undefined
  /** Load generator sleeps per round trip. */
  loadgenSleepsPerRequest: number
  /** Load generator CPU over the measured window, % of one core. */
  loadgenCpuPercent: number
  result: RunResult
}

export interface ServerSummary {
  id: string
  label: string
  connections: number
  note: string | undefined
  samples: Sample[]
  requestsPerSecond: number
  p50Us: number
  p99Us: number
  serverCpuPercent: number
  serverCpuUsPerRequest: number
  serverSleepsPerRequest: number
  loadgenSleepsPerRequest: number
  loadgenCpuPercent: number
  loadgenEventLoopUtilization: number
  errors: number
  firstError: string | undefined
}

export interface Comparison {
  subject: string
  baseline: string
  target: number
  /** Median over rounds of subject/baseline measured in the same round (drift cancels pairwise). */
  ratio: number
  perRound: number[]
  ratioOfMedians: number
  pass: boolean
}

export interface Outcome {
  summaries: ServerSummary[]
  comparison: Comparison | undefined
  profileFiles: Record<string, string>
}

export interface Entries {
  server: string
  loadgen: string
}

export interface Hooks {
  log(line: string): void
  /** Called after each measured run. */
  onSample(sample: Sample, spec: ServerSpec, totalRounds: number): void
}

function launchCommand(
  spec: ServerSpec,
  entries: Entries,
  profileDir: string | undefined,
  nodeFlags: string[],
): { command: string; args: string[] } {
  if ('command' in spec.launch) return { command: spec.launch.command, args: spec.launch.args }
  const prof = profileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${spec.id}.cpuprofile`]
    : []
  return { command: process.execPath, args: [...nodeFlags, ...prof, entries.server, spec.launch.node, HOST] }
}

/** Runs the scenario: every server in its own process, alternating round by round. */
export async function runScenario(
  options: Options,
  entries: Entries,
  profileDir: string | undefined,
  hooks: Hooks,
): Promise<Outcome> {
  const { scenario, settings } = options
  const specs = options.serverIds.map((id) => scenario.servers.find((s) => s.id === id)!)
  const runTimeout = settings.durationMs + 15_000

  const loadgen = await startLoadgen(entries.loadgen)
  const servers = new Map<string, ServerProcess>()
  try {
    for (const spec of specs) {
      const { command, args } = launchCommand(spec, entries, profileDir, options.nodeFlags)
      servers.set(spec.id, await startServerProcess(command, args, { name: spec.label }))
    }
    hooks.log(
      `processes: load generator pid ${loadgen.pid}; ${specs.map((s) => `${s.id} pid ${servers.get(s.id)!.pid}`).join(', ')}`,
    )

    const measure = async (spec: ServerSpec, durationMs: number): Promise<Omit<Sample, 'round'>> => {
      const server = servers.get(spec.id)!
      if (server.exited()) throw new Error(`${spec.label} has exited:\n${server.stderr()}`)
      const connections = spec.connections ?? settings.connections
      const cpuBefore = processCpuMs(server.pid)
      const sleepsBefore = processSleeps(server.pid)
      let result: RunResult
      try {
        result = await loadgen.run(
          {
            workload: scenario.workload,
            host: server.host,
            port: server.port,
            connections,
            durationMs,
            messageSize: settings.messageSize,
          },
          runTimeout,
        )
      } catch (error) {
        const stderr = server.stderr()
        throw new Error(
          `${spec.label}: ${(error as Error).message}${stderr ? `\nserver stderr:\n${stderr}` : ''}`,
        )
      }
      const cpuAfter = processCpuMs(server.pid)
      const sleepsAfter = processSleeps(server.pid)
      const perRequest = (n: number | undefined) =>
        n === undefined || result.requests === 0 ? undefined : n / result.requests
      const serverCpuMs = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined
      const seconds = result.elapsedMs / 1000
      return {
        server: spec.id,
        connections,
        requestsPerSecond: result.requests / seconds,
        serverCpuPercent: serverCpuMs === undefined ? undefined : (serverCpuMs / result.elapsedMs) * 100,
        serverCpuUsPerRequest:
          serverCpuMs === undefined || result.requests === 0
            ? undefined
            : (serverCpuMs * 1000) / result.requests,
        serverSleepsPerRequest: perRequest(
          sleepsBefore !== undefined && sleepsAfter !== undefined ? sleepsAfter - sleepsBefore : undefined,
        ),
        loadgenSleepsPerRequest: perRequest(result.voluntaryContextSwitches) ?? Number.NaN,
        loadgenCpuPercent: ((result.cpuUserUs + result.cpuSystemUs) / 1000 / result.elapsedMs) * 100,
        result,
      }
    }

    if (settings.warmupMs > 0) {
      const started = performance.now()
      for (const spec of specs) await measure(spec, settings.warmupMs)
      hooks.log(
        `warm-up: ${settings.warmupMs} ms per server (${Math.round(performance.now() - started)} ms), not counted`,
      )
    }

    const samples: Sample[] = []
    for (let round = 1; round <= settings.rounds; round++) {
      for (const spec of specs) {
        const sample = { round, ...(await measure(spec, settings.durationMs)) }
        samples.push(sample)
        hooks.onSample(sample, spec, settings.rounds)
      }
    }

    const profileFiles: Record<string, string> = {}
    for (const spec of specs) {
      await servers.get(spec.id)!.stop()
      if (profileDir && 'node' in spec.launch) profileFiles[spec.id] = `${profileDir}/${spec.id}.cpuprofile`
    }
    return {
      summaries: specs.map((spec) => summarize(spec, samples, settings.connections)),
      comparison: compare(options, samples),
      profileFiles,
    }
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()))
    await loadgen.stop()
  }
}

function summarize(spec: ServerSpec, all: Sample[], connections: number): ServerSummary {
  const samples = all.filter((s) => s.server === spec.id)
  const pick = (f: (s: Sample) => number | undefined) =>
    median(samples.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v)))
  const firstError = samples.find((s) => s.result.firstError)?.result.firstError
  return {
    id: spec.id,
    label: spec.label,
    connections: spec.connections ?? connections,
    note: spec.note,
    samples,
    requestsPerSecond: pick((s) => s.requestsPerSecond),
    p50Us: pick((s) => s.result.latency.p50),
    p99Us: pick((s) => s.result.latency.p99),
    serverCpuPercent: pick((s) => s.serverCpuPercent),
    serverCpuUsPerRequest: pick((s) => s.serverCpuUsPerRequest),
    serverSleepsPerRequest: pick((s) => s.serverSleepsPerRequest),
    loadgenSleepsPerRequest: pick((s) => s.loadgenSleepsPerRequest),
    loadgenCpuPercent: pick((s) => s.loadgenCpuPercent),
    loadgenEventLoopUtilization: pick((s) => s.result.eventLoopUtilization),
    errors: samples.reduce((sum, s) => sum + s.result.errors, 0),
    firstError,
  }
}

function compare(options: Options, samples: Sample[]): Comparison | undefined {
  const { subject, baseline, target } = options.scenario.compare
  if (!options.serverIds.includes(subject) || !options.serverIds.includes(baseline)) return undefined
  const perRound: number[] = []
  for (let round = 1; round <= options.settings.rounds; round++) {
    const a = samples.find((s) => s.round === round && s.server === subject)
    const b = samples.find((s) => s.round === round && s.server === baseline)
    if (a && b && b.requestsPerSecond > 0) perRound.push(a.requestsPerSecond / b.requestsPerSecond)
  }
  const rps = (id: string) => median(samples.filter((s) => s.server === id).map((s) => s.requestsPerSecond))
  const ratio = median(perRound)
  return {
    subject,
    baseline,
    target,
    ratio,
    perRound,
    ratioOfMedians: rps(subject) / rps(baseline),
    pass: ratio >= target,
  }
}
