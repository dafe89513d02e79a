import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

// Runs the built harness (`pnpm build` first), as CI does with `bench:smoke`.
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

const started: ChildProcess[] = []
afterEach(() => {
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function bench(
  args: string[],
  { onStdout }: { onStdout?: (text: string, child: ChildProcess) => void } = {},
) {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  started.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    onStdout?.(stdout, child)
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return new Promise<Run>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  )
}

/** The pids the harness says it started (its "processes:" line). */
function childPids(stdout: string): number[] {
  const line = stdout.split('\n').find((l) => l.startsWith('processes:'))
  expect(line, 'a "processes:" line').toBeDefined()
  return [...line!.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function expectAllGone(pids: number[]): Promise<void> {
  const deadline = Date.now() + 5_000
  while (pids.some(isRunning) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  expect(pids.filter(isRunning)).toEqual([])
}

/** The number in the req/s column of the summary row that starts with `label`. */
function requestsPerSecond(stdout: string, label: string): number {
  const summary = stdout.slice(stdout.indexOf('medians over'))
  const row = summary.split('\n').find((l) => l.startsWith(`${label} `))
  expect(row, `a summary row for ${label}`).toBeDefined()
  const cells = row!
    .slice(label.length)
    .trim()
    .split(/\s{2,}/)
  return Number(cells[1]!.replace(/,/g, ''))
}

describe('bench harness', () => {
  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`pnpm build\` first`)
  })

  it('--smoke prints both servers, a ratio and the target line, exits 0 and leaves no process', async () => {
    const run = await bench(['--smoke'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)

    for (const label of ['EventLoopTCPServer + StreamRequestHandler', 'raw node:net']) {
      expect(requestsPerSecond(run.stdout, label)).toBeGreaterThan(0)
    }
    // One progress line per round and server.
    expect(run.stdout.match(/^round +\d+\/2 +eventloop-stream /gm)).toHaveLength(2)
    expect(run.stdout.match(/^round +\d+\/2 +raw-net /gm)).toHaveLength(2)

    const ratio =
      /^ratio EventLoopTCPServer \+ StreamRequestHandler \(rfile\.copyTo\) \/ raw node:net: (\d+\.\d+)/m.exec(
        run.stdout,
      )
    expect(ratio, 'a ratio line').not.toBeNull()
    expect(Number(ratio![1])).toBeGreaterThan(0)
    expect(run.stdout).toMatch(
      /^target: eventloop-stream >= 0\.95 x raw-net requests\/s: (PASS|FAIL) .*smoke mode/m,
    )
    expect(run.stdout).toMatch(/^load generator: .*CPU \d+%/m)

    await expectAllGone(childPids(run.stdout))
  })

  it('SIGINT mid-run stops the harness and every process it started', async () => {
    let signalled = false
    const run = await bench(
      ['--rounds', '100', '--duration', '2s', '--warmup', '0', '--servers', 'raw-net'],
      {
        onStdout: (text, child) => {
          if (!signalled && /^processes:.*\n/m.test(text)) {
            signalled = true
            child.kill('SIGINT')
          }
        },
      },
    )
    expect(signalled).toBe(true)
    expect(run.code).toBe(130)
    await expectAllGone(childPids(run.stdout))
  })

  it('--help prints the usage; a bad flag exits 2', async () => {
    const help = await bench(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage: /)
    expect(help.stdout).toContain('--connections')
    const bad = await bench(['--rounds', 'many'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--rounds')
  })
})
