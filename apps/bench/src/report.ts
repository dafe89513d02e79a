import { execFileSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Options } from './args.js'
import type { ProfileSummary } from './profile.js'
import { type Comparison, lowerIsBetter, type Outcome, type Sample, type ServerSummary } from './run.js'
import type { Metric, RunSettings, Scenario, ServerSpec } from './scenarios/index.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })
const fmtRps = (v: number) => (Number.isFinite(v) ? int.format(v) : '-')
const fmtMs = (us: number) => (Number.isFinite(us) ? (us / 1000).toFixed(2) : '-')
const fmtPct = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? `${Math.round(v)}%` : '-')
const fmt2 = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v.toFixed(2) : '-')
const fmt1 = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v.toFixed(1) : '-')

export function loadAverage(): string {
  return os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')
}

/** Which code was measured: the commit, and whether the working tree differed from it. */
export function codeVersion(): string {
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

const fmtKb = (bytes: number | undefined) =>
  bytes !== undefined && Number.isFinite(bytes) ? (bytes / 1024).toFixed(1) : '-'

export const metricName: Record<Metric, string> = {
  requestsPerSecond: 'requests/s',
  megabytesPerSecond: 'MB/s',
  bytesPerConnection: 'memory per connection',
  serverCpuUsPerRequest: 'server CPU per request',
}

export function formatMetric(value: number | undefined, metric: Metric): string {
  if (metric === 'megabytesPerSecond') return fmt1(value)
  if (metric === 'bytesPerConnection') return `${fmtKb(value)} KB`
  if (metric === 'serverCpuUsPerRequest') return `${fmt1(value)} µs`
  return fmtRps(value ?? Number.NaN)
}

export function machine(): string {
  const cpus = os.cpus()
  return (
    `node ${process.version}, ${os.platform()} ${os.arch()}, ${cpus.length} CPU(s) ${cpus[0]?.model.trim() ?? ''}, ` +
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`
  )
}

export function header(options: Options): string {
  return [
    `socketserver bench, ${options.smoke ? 'smoke' : 'full'} run: ${options.runs.map((r) => r.scenario.name).join(', ')}`,
    `machine: ${machine()}, load average ${loadAverage()} at start (anything else running shares these CPUs)`,
    `code: ${codeVersion()}`,
    `load generator: one process, ${loadgenText(options)}`,
  ].join('\n')
}

function loadgenText(options: Options): string {
  return options.loadgenThreads > 1
    ? `connections shared out over ${options.loadgenThreads} worker threads (idle: one thread)`
    : 'one thread'
}

export function scenarioHeader(scenario: Scenario, settings: RunSettings, smoke: boolean): string {
  return [
    '',
    `== scenario ${scenario.name}: ${scenario.description}`,
    `mode ${smoke ? 'smoke' : 'full'}: ${settings.rounds} rounds x ${settings.durationMs} ms per server, warm-up ${settings.warmupMs} ms, ` +
      `${settings.connections} connections, ${settings.messageSize}-byte messages, host 127.0.0.1`,
  ].join('\n')
}

export function progressLine(sample: Sample, spec: ServerSpec, totalRounds: number, metric: Metric): string {
  const r = sample.result
  const width = String(totalRounds).length
  const extra =
    metric === 'megabytesPerSecond'
      ? `${fmt1(sample.megabytesPerSecond).padStart(7)} MB/s  `
      : metric === 'bytesPerConnection'
        ? `${fmtKb(sample.bytesPerConnection).padStart(6)} KB/conn  `
        : ''
  return (
    `round ${String(sample.round).padStart(width)}/${totalRounds}  ${spec.id.padEnd(18)} c=${String(sample.connections).padEnd(4)}` +
    `${extra}${fmtRps(sample.requestsPerSecond).padStart(9)} ${metric === 'bytesPerConnection' ? 'conn/s' : 'req/s'}  ` +
    `p50 ${fmtMs(r.latency.p50)} ms  p99 ${fmtMs(r.latency.p99)} ms  ` +
    `server CPU ${fmtPct(sample.serverCpuPercent)} sleeps/req ${fmt2(sample.serverSleepsPerRequest)}  ` +
    `loadgen CPU ${fmtPct(sample.loadgenCpuPercent)} sleeps/req ${fmt2(sample.loadgenSleepsPerRequest)} ` +
    `(loop busy ${fmtPct(r.eventLoopUtilization * 100)})${r.lost ? `  lost ${r.lost}` : ''}` +
    `${r.errors ? `  ERRORS ${r.errors}: ${r.firstError}` : ''}`
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

/** The summary rows, header first: the same cells for the terminal and for Markdown. */
function summaryRows(metric: Metric, summaries: ServerSummary[]): string[][] {
  const lead = metric === 'megabytesPerSecond' ? ['MB/s'] : metric === 'bytesPerConnection' ? ['KB/conn'] : []
  return [
    [
      'server',
      'conns',
      ...lead,
      metric === 'bytesPerConnection' ? 'conn/s' : 'req/s',
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
      ...(metric === 'megabytesPerSecond'
        ? [fmt1(s.megabytesPerSecond)]
        : metric === 'bytesPerConnection'
          ? [fmtKb(s.bytesPerConnection)]
          : []),
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
}

const LEGEND =
  'latency is one request as the load generator sees it; CPU is % of one core (server: all threads and ' +
  'child processes); sleeps/req: times the main thread blocked waiting, per request'

export function summaryTable(outcome: Outcome): string {
  const rows = summaryRows(outcome.metric, outcome.summaries)
  const notes = [
    ...outcome.summaries.filter((s) => s.note).map((s) => `note: ${s.note}`),
    ...outcome.notes.map((n) => `note: ${n}`),
  ].join('\n')
  return [
    `medians over ${outcome.settings.rounds} round(s); ${LEGEND}`,
    table(rows, [false, ...rows[0]!.slice(1).map(() => true)]),
    ...(notes ? [notes] : []),
    `load average ${loadAverage()} at end`,
  ].join('\n')
}

export function targetLine(c: Comparison, smoke: boolean): string | undefined {
  if (c.target === undefined) return undefined
  const op = lowerIsBetter(c.metric) ? '<=' : '>='
  const verdict = c.pass ? 'PASS' : 'FAIL'
  return (
    `target: ${c.subject} ${op} ${c.target} x ${c.baseline} ${metricName[c.metric]}: ${verdict} (${c.ratio.toFixed(3)})` +
    (smoke ? ' (smoke mode: not enforced)' : '')
  )
}

export function comparisonLines(outcome: Outcome, c: Comparison, smoke: boolean): string[] {
  const subject = outcome.summaries.find((s) => s.id === c.subject)!
  const baseline = outcome.summaries.find((s) => s.id === c.baseline)!
  const lines = [
    `ratio ${subject.label} / ${baseline.label}: ${c.ratio.toFixed(3)} ` +
      `(${metricName[c.metric]}; median of per-round ratios ${c.perRound.map((r) => r.toFixed(3)).join(' ')}; ratio of medians ${c.ratioOfMedians.toFixed(3)})`,
  ]
  if (c.metric !== 'bytesPerConnection') {
    // The load generator is shared by every server; it is the bottleneck only if it cannot drive the
    // faster one harder, or if its own event loop is saturated on the baseline.
    if (baseline.id.startsWith('raw-')) {
      const busy = baseline.loadgenEventLoopUtilization * 100
      const drivesRawFaster = baseline.requestsPerSecond >= subject.requestsPerSecond
      const verdict = drivesRawFaster
        ? 'drives the raw peer at least as fast'
        : busy < 90
          ? `the raw peer is the slower one here; the load generator, its busiest event loop ${fmtPct(busy)} busy, is not what limits it`
          : 'drives the raw peer SLOWER than the framework'
      lines.push(
        `load generator: ${fmtRps(baseline.requestsPerSecond)} req/s against ${baseline.id} vs ${fmtRps(subject.requestsPerSecond)} against ${subject.id} ` +
          `(${verdict}); ` +
          `its CPU ${fmtPct(baseline.loadgenCpuPercent)}, event loop busy ${fmtPct(busy)} on ${baseline.id} rounds` +
          (busy >= 90 ? ' -- WARNING: near saturation, the ratio may be overstated' : ''),
      )
    }
    lines.push(
      `server CPU per request: ${fmt1(subject.serverCpuUsPerRequest)} us (${subject.id}) vs ${fmt1(baseline.serverCpuUsPerRequest)} us (${baseline.id}): ` +
        `${baseline.id} does the same work in ${fmt1((baseline.serverCpuUsPerRequest / subject.serverCpuUsPerRequest) * 100)}% of the CPU` +
        (c.cpuRatio === undefined
          ? ''
          : ` (CPU/req ratio ${c.cpuRatio.toFixed(2)}, median of per-round ratios)`),
    )
  }
  const target = targetLine(c, smoke)
  if (target) lines.push(target)
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

// --- docs/benchmarks.md -----------------------------------------------------------------------------

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const escapeCell = (text: string) => text.replace(/\|/g, '\\|')

/**
 * A horizontal bar per ratio (subject / baseline, the median of per-round ratios), hand-written
 * SVG: green passes its target, red misses it, grey has no target. A dashed line marks each
 * target, a solid one 1.0x (parity).
 */
export function ratioChart(outcomes: Outcome[], labelOf: (outcome: Outcome, id: string) => string): string {
  const bars = outcomes.flatMap((o) =>
    o.comparisons.map((c) => ({
      text: `${o.scenario}: ${labelOf(o, c.subject)} / ${labelOf(o, c.baseline)}`,
      c,
    })),
  )
  const rowH = 26
  const left = 470
  const width = 980
  const plotW = width - left - 70
  const top = 40
  const height = top + bars.length * rowH + 40
  const finite = bars.map((b) => b.c.ratio).filter(Number.isFinite)
  const max = Math.max(1.5, ...finite, ...bars.map((b) => b.c.target ?? 0)) * 1.08
  const x = (v: number) => left + (Math.max(0, v) / max) * plotW
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12" role="img" aria-labelledby="title">`,
    // A title for screen readers (and biome's a11y lint, which checks this file in the repo).
    '<title id="title">socketserver benchmark ratios against raw Node and Python peers</title>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Ratios, median of per-round ratios (memory: lower is better; everything else: higher)</text>`,
  ]
  for (let tick = 0; tick <= max; tick += max > 8 ? 2 : max > 4 ? 1 : 0.5) {
    parts.push(
      `<line x1="${x(tick).toFixed(1)}" y1="${top - 6}" x2="${x(tick).toFixed(1)}" y2="${top + bars.length * rowH}" stroke="#eee"/>`,
      `<text x="${x(tick).toFixed(1)}" y="${top + bars.length * rowH + 16}" text-anchor="middle" fill="#555">${tick}x</text>`,
    )
  }
  bars.forEach(({ text, c }, i) => {
    const y = top + i * rowH
    const color = c.pass === undefined ? '#9e9e9e' : c.pass ? '#2e7d32' : '#c62828'
    const value = Number.isFinite(c.ratio) ? c.ratio : 0
    parts.push(
      `<text x="${left - 8}" y="${y + 16}" text-anchor="end">${escapeXml(text)}</text>`,
      `<rect x="${left}" y="${y + 4}" width="${(x(value) - left).toFixed(1)}" height="${rowH - 8}" fill="${color}"/>`,
      `<text x="${(x(value) + 4).toFixed(1)}" y="${y + 16}">${Number.isFinite(c.ratio) ? c.ratio.toFixed(2) : '-'}x${c.target === undefined ? '' : c.pass ? ' PASS' : ' FAIL'}</text>`,
    )
    if (c.target !== undefined) {
      parts.push(
        `<line x1="${x(c.target).toFixed(1)}" y1="${y + 1}" x2="${x(c.target).toFixed(1)}" y2="${y + rowH - 1}" stroke="#000" stroke-dasharray="3,2"/>`,
      )
    }
  })
  parts.push(
    `<line x1="${x(1).toFixed(1)}" y1="${top - 6}" x2="${x(1).toFixed(1)}" y2="${top + bars.length * rowH}" stroke="#000"/>`,
    '</svg>',
  )
  return `${parts.join('\n')}\n`
}

export function markdownReport(
  options: Options,
  outcomes: Outcome[],
  { command, chartFile, startLoad }: { command: string[]; chartFile: string; startLoad: string },
): string {
  const lines: string[] = [
    '# Benchmarks',
    '',
    `Written by the bench harness (\`apps/bench\`) on ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}. Rerun with:`,
    '',
    '```sh',
    ...command,
    '```',
    '',
    `- machine: ${machine()}`,
    `- load average: ${startLoad} at start, ${loadAverage()} at end (1, 5, 15 min; other work shared these CPUs)`,
    `- code: ${codeVersion()}`,
    `- load generator: ${loadgenText(options)}`,
    `- mode: ${options.smoke ? 'smoke (tiny runs, targets not enforced: these figures mean little)' : 'full'}`,
    '',
    'Every server runs in its own process, the load generator in another; servers take turns round by round',
    '(A, B, C, A, B, C, ...) so drift of a shared machine hits them alike. A ratio is the median of the',
    'per-round ratios (subject and baseline measured in the same round). On a loaded machine requests/s are',
    'noisy; `CPU us/req` (server CPU per request, from /proc, all threads and child processes) is the steadier',
    'figure. See apps/bench/README.md for how each figure is taken.',
    '',
    '## Targets',
    '',
    'The `CPU/req` column is the ratio of server CPU per request (subject / baseline, median of per-round',
    'ratios; below 1: the subject spends less CPU on a request).',
    '',
    '| scenario | ratio | target | measured | per round | result | CPU/req |',
    '|---|---|---|---|---|---|---|',
  ]
  const label = (o: Outcome, id: string) => o.summaries.find((s) => s.id === id)?.label ?? id
  for (const o of outcomes) {
    for (const c of o.comparisons) {
      const op = lowerIsBetter(c.metric) ? '<=' : '>='
      lines.push(
        `| ${o.scenario} | ${escapeCell(label(o, c.subject))} / ${escapeCell(label(o, c.baseline))} (${metricName[c.metric]}) | ` +
          `${c.target === undefined ? '-' : `${op} ${c.target}`} | ${Number.isFinite(c.ratio) ? c.ratio.toFixed(3) : '-'} | ` +
          `${c.perRound.map((r) => r.toFixed(2)).join(' ')} | ${c.pass === undefined ? 'info' : c.pass ? 'PASS' : '**FAIL**'} | ` +
          `${c.cpuRatio === undefined ? '-' : c.cpuRatio.toFixed(2)} |`,
      )
    }
  }
  lines.push('', `![ratios](${chartFile})`, '')
  for (const o of outcomes) {
    const run = options.runs.find((r) => r.scenario.name === o.scenario)!
    const s = o.settings
    lines.push(
      `## ${o.scenario}`,
      '',
      `${run.scenario.description}. ${s.rounds} rounds x ${s.durationMs} ms per server, warm-up ${s.warmupMs} ms, ` +
        `${s.connections} connections, ${s.messageSize}-byte messages. Medians; ${LEGEND}.`,
      '',
    )
    const rows = summaryRows(o.metric, o.summaries)
    lines.push(`| ${rows[0]!.join(' | ')} |`, `|${rows[0]!.map((_, i) => (i ? '---:' : '---')).join('|')}|`)
    for (const row of rows.slice(1)) lines.push(`| ${row.map(escapeCell).join(' | ')} |`)
    lines.push('')
    for (const c of o.comparisons) for (const l of comparisonLines(o, c, options.smoke)) lines.push(`- ${l}`)
    for (const sum of o.summaries) if (sum.note) lines.push(`- note: ${sum.note}`)
    for (const n of o.notes) lines.push(`- note: ${n}`)
    for (const r of run.scenario.remarks ?? []) lines.push(`- ${r}`)
    lines.push('')
  }
  return lines.join('\n')
}
