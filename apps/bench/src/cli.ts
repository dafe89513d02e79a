import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { helpText, type Options, parseOptions, UsageError } from './args.js'
import { calibrateHashRounds } from './hash.js'
import { installCleanup, killAllChildren, startLoadgen } from './processes.js'
import { summarizeProfile } from './profile.js'
import {
  comparisonLines,
  header,
  loadAverage,
  markdownReport,
  profileLines,
  progressLine,
  ratioChart,
  scenarioHeader,
  summaryTable,
  targetLine,
} from './report.js'
import { type Outcome, runScenario } from './run.js'
import { prepareBenchTLS } from './tls.js'

const EXIT_FAIL = 1
const EXIT_HARNESS = 2

let stdoutOpen = true
// A reader that goes away (`| head`) must not crash the run and leave it half done.
process.stdout.on('error', () => {
  stdoutOpen = false
})

function out(line: string): void {
  if (stdoutOpen) process.stdout.write(`${line}\n`)
}

/**
 * An upper bound on the whole run, so a stuck server or client can never hang CI: rounds are timed,
 * so a run takes about its settings' sum whatever the load; 3 s per round for starting, connecting
 * and closing, 30 s per scenario. A full run takes ~6 minutes and is bound at ~18.
 */
function timeBoundMs(options: Options): number {
  let total = 60_000
  for (const { settings, serverIds } of options.runs) {
    total += serverIds.length * (settings.warmupMs + settings.rounds * (settings.durationMs + 3_000)) + 30_000
  }
  return total
}

const here = path.dirname(fileURLToPath(import.meta.url))
/** The repository root, when the harness runs from its checkout (apps/bench/dist). */
const repoRoot = path.resolve(here, '../../..')

function python3Available(): boolean {
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function docsPath(options: Options): string | undefined {
  if (options.docs === false) return undefined
  if (options.docs !== undefined) return path.resolve(options.docs)
  if (options.smoke || !options.complete || !existsSync(path.join(repoRoot, 'pnpm-workspace.yaml')))
    return undefined
  return path.join(repoRoot, 'docs', 'benchmarks.md')
}

async function main(): Promise<number> {
  let options: Options
  try {
    const parsed = parseOptions(process.argv.slice(2))
    if (parsed === 'help') {
      out(helpText())
      return 0
    }
    options = parsed
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message}\n(see --help)\n`)
      return EXIT_HARNESS
    }
    throw error
  }

  installCleanup()
  const bound = timeBoundMs(options)
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: still running after ${bound} ms, the bound for these settings; giving up\n`)
    killAllChildren()
    process.exit(EXIT_HARNESS)
  }, bound)
  watchdog.unref()

  const entries = {
    server: path.join(here, 'server.js'),
    loadgen: path.join(here, 'loadgen.js'),
    python: path.join(here, '..', 'python', 'servers.py'),
  }
  let profileDir: string | undefined
  if (options.profile) {
    profileDir = options.profileDir
      ? path.resolve(options.profileDir)
      : mkdtempSync(path.join(os.tmpdir(), 'socketserver-bench-profile-'))
    mkdirSync(profileDir, { recursive: true })
  }

  const startLoad = loadAverage()
  out(header(options))
  if (!python3Available()) {
    // The Python peers need python3; everything else can still run (and say what it left out).
    for (const run of options.runs) {
      const isPython = (id: string) => {
        const spec = run.scenario.servers.find((s) => s.id === id)
        return spec !== undefined && 'python' in spec.launch
      }
      const skipped = run.serverIds.filter(isPython)
      if (!skipped.length) continue
      run.serverIds = run.serverIds.filter((id) => !isPython(id))
      out(`${run.scenario.name}: no python3 on the PATH, left out ${skipped.join(', ')}`)
    }
    options.runs = options.runs.filter((r) => r.serverIds.length > 0)
  }
  // Before the environment is copied and the load generator starts: both need the certificates.
  if (options.runs.some((r) => r.scenario.workload.startsWith('tls-'))) prepareBenchTLS()
  const env: NodeJS.ProcessEnv = { ...process.env }
  if (options.runs.some((r) => r.serverIds.some((id) => id.endsWith('-hash')))) {
    env.HASH_ROUNDS ??= String(calibrateHashRounds(2))
    out(`CPU-bound handler: ${env.HASH_ROUNDS} sha256 rounds per request (~2 ms on one core of this machine)`)
  }

  const loadgen = await startLoadgen(entries.loadgen)
  const outcomes: Outcome[] = []
  try {
    for (const run of options.runs) {
      out(scenarioHeader(run.scenario, run.settings, options.smoke))
      const outcome = await runScenario(run, {
        entries,
        loadgen,
        profileDir,
        nodeFlags: options.nodeFlags,
        loadgenThreads: options.loadgenThreads,
        env,
        hooks: {
          log: out,
          onSample: (sample, spec, total, metric) => out(progressLine(sample, spec, total, metric)),
        },
      })
      outcomes.push(outcome)
      out('')
      out(summaryTable(outcome))
      for (const c of outcome.comparisons)
        for (const line of comparisonLines(outcome, c, options.smoke)) out(line)
      for (const remark of run.scenario.remarks ?? []) out(`remark: ${remark}`)
      for (const [id, file] of Object.entries(outcome.profileFiles)) {
        try {
          for (const line of profileLines(id, file, summarizeProfile(file))) out(line)
        } catch (error) {
          out(`profile ${id}: could not read ${file}: ${(error as Error).message}`)
        }
      }
    }
  } finally {
    await loadgen.stop()
  }
  clearTimeout(watchdog)

  const targets = outcomes.flatMap((o) =>
    o.comparisons
      .map((c) => targetLine(c, options.smoke))
      .filter((l): l is string => l !== undefined)
      .map((l) => `  ${o.scenario}: ${l.replace(/^target: /, '')}`),
  )
  out('')
  out(`targets (${targets.length}):`)
  for (const line of targets) out(line)

  if (options.json) {
    writeFileSync(
      options.json,
      `${JSON.stringify({ smoke: options.smoke, argv: options.argv, scenarios: outcomes }, null, 2)}\n`,
    )
  }

  const docs = docsPath(options)
  if (docs) {
    mkdirSync(path.dirname(docs), { recursive: true })
    const chart = `${path.basename(docs, '.md')}.svg`
    const label = (o: Outcome, id: string) => o.summaries.find((s) => s.id === id)?.id ?? id
    writeFileSync(path.join(path.dirname(docs), chart), ratioChart(outcomes, label))
    const args = options.argv.join(' ')
    const command = [
      `pnpm bench${args ? ` -- ${args}` : ''}`,
      `# the same, by hand: pnpm build && node apps/bench/dist/cli.js${args ? ` ${args}` : ''}`,
    ]
    writeFileSync(docs, markdownReport(options, outcomes, { command, chartFile: chart, startLoad }))
    out(`wrote ${docs} and ${chart} beside it`)
  }

  const errors = outcomes.flatMap((o) => o.summaries.filter((s) => s.errors > 0).map((s) => ({ o, s })))
  if (errors.length) {
    for (const { o, s } of errors)
      process.stderr.write(`bench: ${o.scenario}: ${s.label}: ${s.errors} error(s); first: ${s.firstError}\n`)
    return EXIT_HARNESS
  }
  if (!options.smoke && outcomes.some((o) => o.comparisons.some((c) => c.pass === false))) return EXIT_FAIL
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`)
    killAllChildren()
    process.exitCode = EXIT_HARNESS
  },
)
