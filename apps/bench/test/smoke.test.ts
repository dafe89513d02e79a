import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

// Runs the built harness (`pnpm build` first), as CI does with `bench:smoke`.
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

const started: ChildProcess[] = []
const tempDirs: string[] = []
afterEach(() => {
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
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

/** The pids the harness says it started (its "processes:" lines). */
function childPids(stdout: string): number[] {
  const lines = stdout.split('\n').filter((l) => l.startsWith('processes:'))
  expect(lines.length, 'a "processes:" line').toBeGreaterThan(0)
  return lines.flatMap((line) => [...line.matchAll(/pid (\d+)/g)].map((m) => Number(m[1])))
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Whether any process is left in the process group `pgid` (a server's group: its pool children, Python's forks). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

async function expectAllGone(pids: number[]): Promise<void> {
  const deadline = Date.now() + 5_000
  const left = () => pids.filter((pid) => isRunning(pid) || groupAlive(pid))
  while (left().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  expect(left()).toEqual([])
}

/** The number in the req/s column of the summary row that starts with `label`. */
function requestsPerSecond(stdout: string, label: string, column = 1): number {
  const summary = stdout.slice(stdout.indexOf('medians over'))
  const row = summary.split('\n').find((l) => l.startsWith(`${label} `))
  expect(row, `a summary row for ${label}`).toBeDefined()
  const cells = row!
    .slice(label.length)
    .trim()
    .split(/\s{2,}/)
  return Number(cells[column]!.replace(/,/g, ''))
}

describe('bench harness', () => {
  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`pnpm build\` first`)
  })

  it('--smoke prints both servers, a ratio and the target line, exits 0 and leaves no process', async () => {
    const run = await bench([
      '--smoke',
      '--scenario',
      'tcp-pingpong',
      '--servers',
      'eventloop-stream,raw-net',
    ])
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

  it('--smoke of every scenario: a table and targets for each, the Markdown report with its SVG chart, no process left', {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-test-'))
    tempDirs.push(dir)
    const docs = path.join(dir, 'benchmarks.md')
    const json = path.join(dir, 'bench.json')
    const run = await bench(['--smoke', '--docs', docs, '--json', json])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)

    const names = [
      'tcp-pingpong',
      'tcp-connect',
      'udp-pingpong',
      'unix-pingpong',
      'bulk',
      'idle',
      'cpu-bound',
      'rpc-tcp-null',
      'rpc-tcp-get',
      'rpc-udp-null',
      'rpc-udp-get',
      'tls-pingpong',
      'tls-connect',
      'proxy-connect',
      'haproxy-scale',
    ]
    for (const name of names) expect(run.stdout).toMatch(new RegExp(`^== scenario ${name}: `, 'm'))
    // Every peer the issue names answered and was measured.
    for (const label of [
      'Python socketserver.ThreadingTCPServer',
      'raw node:dgram',
      'Python socketserver.UDPServer',
      'raw node:net on a path',
      'rpcgen + libtirpc C server (svc_run)',
    ]) {
      expect(requestsPerSecond(run.stdout, label)).toBeGreaterThan(0)
    }
    expect(run.stdout).toMatch(/^ratio .* \(MB\/s; /m)
    for (const handler of ['eventloop-stream', 'eventloop-lines', 'eventloop-callback']) {
      expect(run.stdout).toMatch(
        new RegExp(`^target: ${handler} <= 1\\.15 x raw-net memory per connection: (PASS|FAIL)`, 'm'),
      )
    }
    expect(run.stdout).toMatch(/^target: eventloop-lines >= 0\.97 x raw-net requests\/s: (PASS|FAIL)/m)
    expect(run.stdout).toMatch(/^target: fork-pool-hash >= 1\.6 x eventloop-hash requests\/s: (PASS|FAIL)/m)
    const targets = /^targets \((\d+)\):$/m.exec(run.stdout)
    // Nineteen (among them metrics on vs off, the PROXY header's CPU, the line handler and the two
    // callback handlers on ping-pong, idle for the four handlers, TLS ping-pong and connect), and the
    // thread pool's echo target where sockets transfer to workers (Node >= 26).
    expect(Number(targets?.[1])).toBe(Number(process.versions.node.split('.')[0]) >= 26 ? 20 : 19)
    expect(run.stdout).toMatch(
      /^target: eventloop-stream-metrics >= 0\.95 x eventloop-stream requests\/s: (PASS|FAIL)/m,
    )
    expect(run.stdout).toMatch(
      /^target: eventloop-line-proxy <= 1\.03 x eventloop-line server CPU per request: (PASS|FAIL)/m,
    )

    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      scenarios: { scenario: string; summaries: { requestsPerSecond: number; errors: number }[] }[]
    }
    expect(report.scenarios.map((s) => s.scenario)).toEqual(names)
    for (const s of report.scenarios) {
      for (const summary of s.summaries) {
        expect(summary.errors).toBe(0)
        expect(summary.requestsPerSecond).toBeGreaterThan(0)
      }
    }
    const idle = report.scenarios.find((s) => s.scenario === 'idle')!.summaries as unknown as {
      bytesPerConnection: number
    }[]
    for (const s of idle) expect(s.bytesPerConnection).toBeGreaterThan(0)

    const markdown = readFileSync(docs, 'utf8')
    expect(markdown).toMatch(/^# Benchmarks/)
    expect(markdown).toContain('| scenario | ratio | target | measured | per round | result |')
    expect(markdown).toContain('![ratios](benchmarks.svg)')
    expect(markdown).toMatch(/node v\d+\.\d+\.\d+, .*CPU\(s\)/)
    for (const name of names) expect(markdown).toContain(`## ${name}`)
    const svg = readFileSync(path.join(dir, 'benchmarks.svg'), 'utf8')
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
    expect(svg.match(/<rect /g)!.length).toBeGreaterThan(8)

    await expectAllGone(childPids(run.stdout))
  })

  it('SIGINT mid-run stops the harness, every process it started and what they started', async () => {
    let signalled = false
    const run = await bench(
      [
        '--scenario',
        'tcp-pingpong',
        '--rounds',
        '100',
        '--duration',
        '2s',
        '--warmup',
        '0',
        '--servers',
        'raw-net,fork-pool,python-forking',
      ],
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
    // `pnpm bench -- --help` passes the `--` through to the CLI.
    const throughPnpm = await bench(['--', '--help'])
    expect(throughPnpm.code).toBe(0)
    expect(throughPnpm.stdout).toMatch(/^Usage: /)
    const bad = await bench(['--rounds', 'many'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--rounds')
  })
})
