#!/usr/bin/env node
/**
 * The reliability and security suite: runs each scenario against real servers in child processes,
 * asserts its outcome, prints the tables and exits 1 if any check failed.
 * `node dist/run.js [scenario ids...]` runs only those (e.g. `3 5`).
 *
 * A full run writes its report to .cache/reliability.md and .json, which git ignores, so that
 * `npm test` leaves the tree clean. `--write-docs` (a full run only; `pnpm chaos:report`) writes the
 * committed docs/reliability.md and .json instead.
 */
import { performance } from 'node:perf_hooks'
import { killAllGroups } from './proc.js'
import { writeReport } from './report.js'
import { Recorder, type ScenarioRecord } from './scenario.js'
import { scenarios } from './scenarios/index.js'

// `--` may reach us from `pnpm ... chaos -- 3 6`; it carries no meaning here.
const args = process.argv.slice(2).filter((arg) => arg !== '--')
const writeDocs = args.includes('--write-docs')
const unknown = args.filter((arg) => arg !== '--write-docs' && !Number.isInteger(Number(arg)))
const only = args.map(Number).filter(Number.isInteger)
if (unknown.length > 0 || (writeDocs && only.length > 0)) {
  process.stderr.write(
    unknown.length > 0
      ? `chaos: unknown argument ${unknown.join(' ')}; usage: run.js [--write-docs] [scenario ids...]\n`
      : 'chaos: --write-docs needs a full run (the documents describe every scenario); drop the ids\n',
  )
  process.exit(2)
}
const selected = only.length > 0 ? scenarios.filter((s) => only.includes(s.id)) : scenarios
const results: Array<ScenarioRecord & { id: number; title: string; seconds: number; ok: boolean }> = []
const started = performance.now()

for (const [index, scenario] of selected.entries()) {
  process.stdout.write(`\n[${index + 1}/${selected.length}] scenario ${scenario.id}: ${scenario.title}\n`)
  const recorder = new Recorder()
  const t0 = performance.now()
  try {
    await scenario.run(recorder)
  } catch (error) {
    recorder.check('the scenario ran to the end', false, (error as Error)?.stack ?? String(error))
  } finally {
    killAllGroups() // whatever a failed scenario left running
  }
  const seconds = (performance.now() - t0) / 1000
  const ok = recorder.record.checks.length > 0 && recorder.record.checks.every((c) => c.ok)
  results.push({ id: scenario.id, title: scenario.title, seconds, ok, ...recorder.record })
  process.stdout.write(`  ${ok ? 'PASS' : 'FAIL'} in ${seconds.toFixed(1)} s\n`)
}

const total = (performance.now() - started) / 1000
const failed = results.filter((r) => !r.ok)
process.stdout.write(
  `\nchaos: ${results.length - failed.length} of ${results.length} scenarios passed in ${total.toFixed(0)} s${failed.length ? `; FAILED: ${failed.map((r) => r.id).join(', ')}` : ''}\n`,
)
if (only.length === 0) {
  const written = writeReport(results, total, writeDocs ? 'docs' : 'cache')
  process.stdout.write(`chaos: wrote ${written.join(' and ')}\n`)
}
process.exit(failed.length > 0 ? 1 : 0)
