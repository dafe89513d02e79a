import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { processSleeps, processTreeCpuMs } from './proc-cpu.js'
import { type Loadgen, type ServerProcess, startServerProcess } from './processes.js'
import type { RunResult } from './protocol.js'
import type { ComparisonSpec, Metric, RunSettings, Scenario, ServerSpec } from './scenarios/index.js'
import { median } from './stats.js'

export const HOST = '127.0.0.1'

export interface Sample {
  round: number
  server: string
  connections: number
  requestsPerSecond: number
  /** Bytes echoed per second / 2^20 (bulk transfer). */
  megabytesPerSecond: number
  /** Idle connections: server memory growth per open connection, bytes. */
  bytesPerConnection: number | undefined
  /** Server CPU over the run (all threads, and its child processes), % of one core; undefined without /proc. */
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
  megabytesPerSecond: number
  bytesPerConnection: number
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
  metric: Metric
  /** Undefined: reported, not judged. */
  target: number | undefined
  /** Median over rounds of subject/baseline measured in the same round (drift cancels pairwise). */
  ratio: number
  perRound: number[]
  ratioOfMedians: number
  /**
   * Median over rounds of subject/baseline server CPU per request: the steadier figure on a loaded
   * machine (below 1: the subject spends less CPU per request). Undefined without /proc.
   */
  cpuRatio: number | undefined
  /** Undefined without a target. */
  pass: boolean | undefined
}

export interface ScenarioRun {
  scenario: Scenario
  settings: RunSettings
  serverIds: string[]
}

export interface Outcome {
  scenario: string
  settings: RunSettings
  metric: Metric
  summaries: ServerSummary[]
  comparisons: Comparison[]
  profileFiles: Record<string, string>
  /** Things the run changed or could not do, printed and written with the results. */
  notes: string[]
}

export interface Entries {
  server: string
  loadgen: string
  python: string
}

export interface Hooks {
  log(line: string): void
  /** Called after each measured run. */
  onSample(sample: Sample, spec: ServerSpec, totalRounds: number, metric: Metric): void
}

export interface RunContext {
  entries: Entries
  loadgen: Loadgen
  profileDir: string | undefined
  nodeFlags: string[]
  loadgenThreads: number
  /** Environment of every server (HASH_ROUNDS for the CPU-bound handler). */
  env: NodeJS.ProcessEnv
  hooks: Hooks
}

/** Higher is better except memory and CPU per request. */
export const lowerIsBetter = (metric: Metric) =>
  metric === 'bytesPerConnection' || metric === 'serverCpuUsPerRequest'

function launchCommand(spec: ServerSpec, ctx: RunContext): { command: string; args: string[] } {
  if ('command' in spec.launch) return { command: spec.launch.command, args: spec.launch.args }
  if ('python' in spec.launch)
    return { command: 'python3', args: [ctx.entries.python, spec.launch.python, HOST] }
  const prof = ctx.profileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`, `--cpu-prof-name=${spec.id}.cpuprofile`]
    : []
  return {
    command: process.execPath,
    args: [...ctx.nodeFlags, ...prof, ctx.entries.server, spec.launch.node, HOST],
  }
}

/** Soft and hard limits on open files of a process, from /proc/<pid>/limits. */
function fdLimits(pid: number): { soft: number; hard: number } | undefined {
  try {
    const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(
      readFileSync(`/proc/${pid}/limits`, 'utf8'),
    )
    if (!match) return undefined
    const n = (s: string) => (s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s))
    return { soft: n(match[1]!), hard: n(match[2]!) }
  } catch {
    return undefined
  }
}

/**
 * Raises a process's limit on open files to `needed`, with prlimit: both limits where it may (a
 * privileged harness raises the hard limit too), else the soft one up to the hard limit.
 */
function raiseFdLimit(pid: number, needed: number): void {
  const limits = fdLimits(pid)
  if (!limits || limits.soft >= needed) return
  const attempts = [
    `${needed}:${Math.max(needed, limits.hard)}`,
    `${Math.min(needed, limits.hard)}:${limits.hard}`,
  ]
  for (const nofile of attempts) {
    try {
      execFileSync('prlimit', ['--pid', String(pid), `--nofile=${nofile}`], { stdio: 'ignore' })
      return
    } catch {
      // not permitted (or no prlimit): the next attempt, then the run reports the connections that failed
    }
  }
}

/** Headroom over the connections: stdio, the IPC channel, libuv's own descriptors. */
const FD_HEADROOM = 256

/** Runs one scenario: every server in its own process, alternating round by round. */
export async function runScenario(run: ScenarioRun, ctx: RunContext): Promise<Outcome> {
  const { scenario } = run
  const settings = { ...run.settings }
  const metric = scenario.metric ?? 'requestsPerSecond'
  const notes: string[] = []
  const specs = run.serverIds.map((id) => scenario.servers.find((s) => s.id === id)!)
  const runTimeout = settings.durationMs + 30_000

  // Idle connections need a descriptor each, in the load generator and in the server.
  let fdsNeeded = 0
  if (scenario.workload === 'tcp-idle') {
    raiseFdLimit(process.pid, settings.connections + FD_HEADROOM)
    const hard = fdLimits(process.pid)?.hard ?? Number.MAX_SAFE_INTEGER
    if (settings.connections + FD_HEADROOM > hard) {
      const capped = Math.max(1, hard - FD_HEADROOM)
      notes.push(
        `${settings.connections} connections asked, but the hard limit on open files is ${hard}: ran ${capped}`,
      )
      settings.connections = capped
    }
    fdsNeeded = settings.connections + FD_HEADROOM
    raiseFdLimit(ctx.loadgen.pid, fdsNeeded)
  }

  const servers = new Map<string, ServerProcess>()
  const start = async (spec: ServerSpec) => {
    const { command, args } = launchCommand(spec, ctx)
    const server = await startServerProcess(command, args, { name: spec.label, env: ctx.env })
    if (fdsNeeded) raiseFdLimit(server.pid, fdsNeeded)
    servers.set(spec.id, server)
    return server
  }
  const stop = async (spec: ServerSpec) => {
    await servers.get(spec.id)?.stop()
    servers.delete(spec.id)
  }

  try {
    if (!scenario.freshServerPerRound) {
      // Started together: their start-ups overlap, the measurements never do.
      await Promise.all(specs.map(start))
      ctx.hooks.log(
        `processes: load generator pid ${ctx.loadgen.pid}; ${specs.map((s) => `${s.id} pid ${servers.get(s.id)!.pid}`).join(', ')}`,
      )
    } else {
      ctx.hooks.log(`processes: load generator pid ${ctx.loadgen.pid}; a new server process for every round`)
    }

    const measure = async (spec: ServerSpec, durationMs: number): Promise<Omit<Sample, 'round'>> => {
      const server = servers.get(spec.id) ?? (await start(spec))
      if (scenario.freshServerPerRound) ctx.hooks.log(`processes: ${spec.id} pid ${server.pid}`)
      if (server.exited()) throw new Error(`${spec.label} has exited:\n${server.stderr()}`)
      const connections = spec.connections ?? settings.connections
      const cpuBefore = processTreeCpuMs(server.pid)
      const sleepsBefore = processSleeps(server.pid)
      let result: RunResult
      try {
        result = await ctx.loadgen.run(
          {
            workload: spec.workload ?? scenario.workload,
            host: server.host,
            port: server.port,
            ...(server.path === undefined ? {} : { path: server.path }),
            connections,
            durationMs,
            messageSize: settings.messageSize,
            ...(scenario.replySize === undefined ? {} : { replySize: scenario.replySize }),
            serverPid: server.pid,
            threads: ctx.loadgenThreads,
          },
          runTimeout,
        )
      } catch (error) {
        const stderr = server.stderr()
        throw new Error(
          `${spec.label}: ${(error as Error).message}${stderr ? `\nserver stderr:\n${stderr}` : ''}`,
        )
      }
      const cpuAfter = processTreeCpuMs(server.pid)
      const sleepsAfter = processSleeps(server.pid)
      if (scenario.freshServerPerRound) await stop(spec)
      const perRequest = (n: number | undefined) =>
        n === undefined || result.requests === 0 ? undefined : n / result.requests
      const serverCpuMs = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined
      const seconds = result.elapsedMs / 1000
      const { serverRssBefore: rss0, serverRssAfter: rss1 } = result
      return {
        server: spec.id,
        connections,
        requestsPerSecond: result.requests / seconds,
        megabytesPerSecond: (result.requests * settings.messageSize) / seconds / 2 ** 20,
        bytesPerConnection:
          rss0 !== undefined && rss1 !== undefined && result.requests > 0
            ? (rss1 - rss0) / result.requests
            : undefined,
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
      ctx.hooks.log(
        `warm-up: ${settings.warmupMs} ms per server (${Math.round(performance.now() - started)} ms), not counted`,
      )
    }

    const samples: Sample[] = []
    for (let round = 1; round <= settings.rounds; round++) {
      for (const spec of specs) {
        const sample = { round, ...(await measure(spec, settings.durationMs)) }
        samples.push(sample)
        ctx.hooks.onSample(sample, spec, settings.rounds, metric)
      }
    }

    const profileFiles: Record<string, string> = {}
    for (const spec of specs) {
      await stop(spec)
      if (ctx.profileDir && 'node' in spec.launch && !scenario.freshServerPerRound)
        profileFiles[spec.id] = path.join(ctx.profileDir, `${spec.id}.cpuprofile`)
    }
    const summaries = specs.map((spec) => summarize(spec, samples, settings.connections))
    return {
      scenario: scenario.name,
      settings,
      metric,
      summaries,
      comparisons: scenario.comparisons
        .map((c) => compare(c, metric, run.serverIds, samples, settings.rounds))
        .filter((c): c is Comparison => c !== undefined),
      profileFiles,
      notes,
    }
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()))
  }
}

export function metricOf(s: Sample, metric: Metric): number | undefined {
  return s[metric]
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
    megabytesPerSecond: pick((s) => s.megabytesPerSecond),
    bytesPerConnection: pick((s) => s.bytesPerConnection),
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

function compare(
  spec: ComparisonSpec,
  metric: Metric,
  serverIds: string[],
  samples: Sample[],
  rounds: number,
): Comparison | undefined {
  const { subject, baseline, target } = spec
  if (!serverIds.includes(subject) || !serverIds.includes(baseline)) return undefined
  const perRound: number[] = []
  const cpuPerRound: number[] = []
  for (let round = 1; round <= rounds; round++) {
    const a = samples.find((s) => s.round === round && s.server === subject)
    const b = samples.find((s) => s.round === round && s.server === baseline)
    const va = a && metricOf(a, metric)
    const vb = b && metricOf(b, metric)
    if (va !== undefined && vb !== undefined && vb > 0) perRound.push(va / vb)
    const ca = a?.serverCpuUsPerRequest
    const cb = b?.serverCpuUsPerRequest
    if (ca !== undefined && cb !== undefined && cb > 0) cpuPerRound.push(ca / cb)
  }
  const med = (id: string) =>
    median(
      samples
        .filter((s) => s.server === id)
        .map((s) => metricOf(s, metric))
        .filter((v): v is number => v !== undefined),
    )
  const ratio = median(perRound)
  return {
    subject,
    baseline,
    metric,
    target,
    ratio,
    perRound,
    ratioOfMedians: med(subject) / med(baseline),
    cpuRatio: metric === 'bytesPerConnection' || !cpuPerRound.length ? undefined : median(cpuPerRound),
    pass:
      target === undefined
        ? undefined
        : Number.isFinite(ratio) && (lowerIsBetter(metric) ? ratio <= target : ratio >= target),
  }
}
