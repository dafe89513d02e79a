import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { helpText, type Options, parseOptions, UsageError } from './args.js'
import { installCleanup, killAllChildren } from './processes.js'
import { summarizeProfile } from './profile.js'
import { comparisonLines, header, profileLines, progressLine, summaryTable } from './report.js'
import { runScenario } from './run.js'

const EXIT_FAIL = 1
const EXIT_HARNESS = 2

function out(line: string): void {
  process.stdout.write(`${line}\n`)
}

/** An upper bound on the whole run, so a stuck server or client can never hang CI. */
function timeBoundMs(options: Options): number {
  const { settings, serverIds } = options
  const perServer = settings.warmupMs + settings.rounds * (settings.durationMs + 2_000)
  return 2 * (serverIds.length * perServer + 20_000) + 30_000
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

  const here = path.dirname(fileURLToPath(import.meta.url))
  const entries = { server: path.join(here, 'server.js'), loadgen: path.join(here, 'loadgen.js') }
  let profileDir: string | undefined
  if (options.profile) {
    profileDir = options.profileDir
      ? path.resolve(options.profileDir)
      : mkdtempSync(path.join(os.tmpdir(), 'socketserver-bench-profile-'))
    mkdirSync(profileDir, { recursive: true })
  }

  out(header(options))
  const outcome = await runScenario(options, entries, profileDir, {
    log: out,
    onSample: (sample, spec, total) => out(progressLine(sample, spec, total)),
  })
  clearTimeout(watchdog)

  out('')
  out(summaryTable(options, outcome.summaries))
  const c = outcome.comparison
  if (c) for (const line of comparisonLines(options, outcome.summaries, c)) out(line)
  else
    out(
      `no comparison: --servers must include ${options.scenario.compare.subject} and ${options.scenario.compare.baseline}`,
    )

  for (const [id, file] of Object.entries(outcome.profileFiles)) {
    try {
      for (const line of profileLines(id, file, summarizeProfile(file))) out(line)
    } catch (error) {
      out(`profile ${id}: could not read ${file}: ${(error as Error).message}`)
    }
  }

  if (options.json) {
    writeFileSync(
      options.json,
      `${JSON.stringify({ scenario: options.scenario.name, smoke: options.smoke, settings: options.settings, ...outcome }, null, 2)}\n`,
    )
  }

  const errors = outcome.summaries.filter((s) => s.errors > 0)
  if (errors.length) {
    for (const s of errors)
      process.stderr.write(`bench: ${s.label}: ${s.errors} connection error(s); first: ${s.firstError}\n`)
    return EXIT_HARNESS
  }
  if (c && !c.pass && !options.smoke) return EXIT_FAIL
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
