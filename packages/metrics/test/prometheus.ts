import { spawnSync } from 'node:child_process'

/**
 * Parses the Prometheus text format into `name{a="x",b="y"}` → value, labels sorted by name, so a
 * test names a series without caring in which order the library printed its labels.
 */
export function parseExposition(text: string): Map<string, number> {
  const series = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match) throw new Error(`not an exposition line: ${line}`)
    const labels = [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, name, value]) => `${name}="${value}"`)
      .sort()
    series.set(`${match[1]}{${labels.join(',')}}`, Number(match[3]))
  }
  return series
}

/** The key `parseExposition` gives a series: `series('x_total', { server: 'tcp:...' })`. */
export function series(name: string, labels: Record<string, string> = {}): string {
  const sorted = Object.entries(labels)
    .map(([label, value]) => `${label}="${value}"`)
    .sort()
  return `${name}{${sorted.join(',')}}`
}

/** Runs Debian's `promtool check metrics` on `text`: its exit status and what it printed. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', ['check', 'metrics'], {
    input: text,
    encoding: 'utf8',
    timeout: 20_000,
  })
  if (result.error) throw result.error
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}
