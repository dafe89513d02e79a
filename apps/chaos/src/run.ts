#!/usr/bin/env node
/**
 * The reliability and security suite: runs each scenario against real servers in child processes,
 * asserts its outcome, and writes docs/reliability.md and docs/reliability.json. Exits 1 if any
 * check failed. `node dist/run.js [scenario ids...]` runs only those (e.g. `3 5`); the documents
 * are written only by a full run.
 */
import { performance } from 'node:perf_hooks'
import { killAllGroups } from './proc.js'
import { writeReport } from './report.js'
import { Recorder, type ScenarioRecord } from './scenario.js'
import { scenarios } from './scenarios/index.js'

const only = process.argv.slice(2).map(Number).filter(Number.isInteger)
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
  const written = writeReport(results, total)
  process.stdout.write(`chaos: wrote ${written.join(' and ')}\n`)
}
process.exit(failed.length > 0 ? 1 : 0)
