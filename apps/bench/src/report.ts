import { execFileSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Options } from './args.js'
import type { ProfileSummary } from './profile.js'
import type { Comparison, Sample, ServerSummary } from './run.js'
import type { ServerSpec } from './scenarios/index.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })
const fmtRps = (v: number) => (Number.isFinite(v) ? int.format(v) : '-')
const fmtMs = (us: number) => (Number.isFinite(us) ? (us / 1000).toFixed(2) : '-')
const fmtPct = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? `${Math.round(v)}%` : '-')
const fmt2 = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v.toFixed(2) : '-')
const fmt1 = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v.toFixed(1) : '-')

function loadAverage(): string {
  return os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')
}

/** Which code was measured: the commit, and whether the working tree differed from it. */
function codeVersion(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const commit = git('rev-parse', '--short', 'HEAD')
    const dirty = git(
      'status',
      '--porcelain',
      '--untracked-files=no',
      '--',
      ':(top)packages',
      ':(top)apps/bench',
    )
    return `commit ${commit}${dirty ? ' + uncommitted changes' : ''}`
  } catch {
    return 'not a git checkout'
  }
}

export function header(options: Options): string {
  const { scenario, settings } = options
  const cpus = os.cpus()
  return [
    `scenario ${scenario.name}: ${scenario.description}`,
    `mode ${options.smoke ? 'smoke' : 'full'}: ${settings.rounds} rounds x ${settings.durationMs} ms per server, warm-up ${settings.warmupMs} ms, ` +
      `${settings.connections} connections, ${settings.messageSize}-byte messages, host 127.0.0.1`,
    `machine: node ${process.version}, ${os.platform()} ${os.arch()}, ${cpus.length} CPU(s) ${cpus[0]?.model.trim() ?? ''}, ` +
      `load average ${loadAverage()} at start (anything else running shares these CPUs)`,
    `code: ${codeVersion()}`,
  ].join('\n')
}

export function progressLine(sample: Sample, spec: ServerSpec, totalRounds: number): string {
  const r = sample.result
  const width = String(totalRounds).length
  return (
    `round ${String(sample.round).padStart(width)}/${totalRounds}  ${spec.id.padEnd(18)} c=${String(sample.connections).padEnd(4)}` +
    `${fmtRps(sample.requestsPerSecond).padStart(9)} req/s  p50 ${fmtMs(r.latency.p50)} ms  p99 ${fmtMs(r.latency.p99)} ms  ` +
    `server CPU ${fmtPct(sample.serverCpuPercent)} sleeps/req ${fmt2(sample.serverSleepsPerRequest)}  ` +
    `loadgen CPU ${fmtPct(sample.loadgenCpuPercent)} sleeps/req ${fmt2(sample.loadgenSleepsPerRequest)} ` +
    `(loop busy ${fmtPct(r.eventLoopUtilization * 100)})${r.errors ? `  ERRORS ${r.errors}: ${r.firstError}` : ''}`
  )
}

function table(rows: string[][], rightAligned: boolean[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  return rows
    .map((row) =>
      row
        .map((cell, i) => (rightAligned[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  '),
    )
    .join('\n')
    .replace(/ +$/gm, '')
}

export function summaryTable(options: Options, summaries: ServerSummary[]): string {
  const rows = [
    [
      'server',
      'conns',
      'req/s',
      'p50 ms',
      'p99 ms',
      'server CPU',
      'CPU us/req',
      'sleeps/req',
      'loadgen CPU',
      'loadgen busy',
      'loadgen sleeps/req',
      'errors',
    ],
    ...summaries.map((s) => [
      s.label,
      String(s.connections),
      fmtRps(s.requestsPerSecond),
      fmtMs(s.p50Us),
      fmtMs(s.p99Us),
      fmtPct(s.serverCpuPercent),
      fmt1(s.serverCpuUsPerRequest),
      fmt2(s.serverSleepsPerRequest),
      fmtPct(s.loadgenCpuPercent),
      fmtPct(s.loadgenEventLoopUtilization * 100),
      fmt2(s.loadgenSleepsPerRequest),
      String(s.errors),
    ]),
  ]
  const notes = summaries
    .filter((s) => s.note)
    .map((s) => `note: ${s.note}`)
    .join('\n')
  return [
    `medians over ${options.settings.rounds} round(s); latency is one round trip as the load generator sees it; ` +
      'CPU is % of one core; sleeps/req: times the main thread blocked waiting, per round trip',
    table(rows, [false, ...rows[0]!.slice(1).map(() => true)]),
    ...(notes ? [notes] : []),
    `load average ${loadAverage()} at end`,
  ].join('\n')
}

export function comparisonLines(options: Options, summaries: ServerSummary[], c: Comparison): string[] {
  const subject = summaries.find((s) => s.id === c.subject)!
  const baseline = summaries.find((s) => s.id === c.baseline)!
  const lines = [
    `ratio ${subject.label} / ${baseline.label}: ${c.ratio.toFixed(3)} ` +
      `(median of per-round ratios ${c.perRound.map((r) => r.toFixed(3)).join(' ')}; ratio of medians ${c.ratioOfMedians.toFixed(3)})`,
  ]
  // The load generator is shared by both servers; it is the bottleneck only if it cannot drive the
  // faster one harder, or if its own event loop is saturated on the baseline.
  const busy = baseline.loadgenEventLoopUtilization * 100
  const drivesRawFaster = baseline.requestsPerSecond >= subject.requestsPerSecond
  lines.push(
    `load generator: ${fmtRps(baseline.requestsPerSecond)} req/s against ${baseline.id} vs ${fmtRps(subject.requestsPerSecond)} against ${subject.id} ` +
      `(${drivesRawFaster ? 'drives the raw peer at least as fast' : 'drives the raw peer SLOWER than the framework'}); ` +
      `its CPU ${fmtPct(baseline.loadgenCpuPercent)}, event loop busy ${fmtPct(busy)} on ${baseline.id} rounds` +
      (busy >= 90 ? ' -- WARNING: near saturation, the ratio may be overstated' : ''),
  )
  lines.push(
    `server CPU per round trip: ${fmt1(subject.serverCpuUsPerRequest)} us (${subject.id}) vs ${fmt1(baseline.serverCpuUsPerRequest)} us (${baseline.id}): ` +
      `${baseline.id} does the same work in ${fmt1((baseline.serverCpuUsPerRequest / subject.serverCpuUsPerRequest) * 100)}% of the CPU`,
  )
  const verdict = c.pass ? 'PASS' : 'FAIL'
  const enforced = options.smoke ? ' (smoke mode: not enforced)' : ''
  lines.push(
    `target: ${c.subject} >= ${c.target} x ${c.baseline} requests/s: ${verdict} (${c.ratio.toFixed(3)})${enforced}`,
  )
  return lines
}

export function profileLines(id: string, file: string, p: ProfileSummary): string[] {
  return [
    `profile ${id}: ${file} (${p.samples} samples, idle ${p.idlePercent.toFixed(1)}%); self time, % of busy samples:`,
    '  by file:',
    ...p.files.map((e) => `    ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`),
    '  by function:',
    ...p.functions.map((e) => `    ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`),
  ]
}
