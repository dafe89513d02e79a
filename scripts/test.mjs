#!/usr/bin/env node
// The whole test suite, step by step with progress: lint, build + typecheck + publint, the docs'
// code samples, the packed packages as a user installs them (attw, npm consumers), the vitest
// suites, the chaos suite, the API reference, and the benchmark's smoke mode. Ends with a plain "N passed, N failed" line.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'

const report = '.cache/vitest-report.json'
const steps = [
  ['lint and format', 'pnpm', ['exec', 'biome', 'check', '.']],
  [
    'build, typecheck, publint',
    'pnpm',
    ['exec', 'turbo', 'run', 'build', 'typecheck', 'publint', '--output-logs=errors-only'],
  ],
  ['doc samples type-check', 'node', ['scripts/check-doc-samples.mjs']],
  ['packed packages: attw, npm consumers (tcp, unix, umbrella)', 'node', ['scripts/consumer-test.mjs']],
  [
    'tests',
    'pnpm',
    ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
  ],
  ['API reference (TypeDoc, to docs/api)', 'pnpm', ['exec', 'typedoc', '--logLevel', 'Error']],
]
// After the vitest step: the reliability suite (real servers under load, faults and hostile input).
// Its report goes to .cache/ (git ignores it): the test run leaves the tree clean; `pnpm chaos:report`
// regenerates the committed docs/reliability.md.
if (existsSync('apps/chaos/package.json'))
  steps.splice(steps.length - 1, 0, [
    'chaos suite (report in .cache/reliability.md)',
    'pnpm',
    ['--filter', '@socketserver/chaos', 'chaos'],
  ])
if (existsSync('apps/bench/package.json'))
  steps.push(['benchmark smoke', 'pnpm', ['--filter', '@socketserver/bench', 'bench:smoke']])

// The tests drive real clients no one here wrote; on a Debian machine where we are root, install them.
const clients = {
  nc: 'netcat-openbsd',
  socat: 'socat',
  openssl: 'openssl',
  'gnutls-cli': 'gnutls-bin',
  rdate: 'rdate',
  python3: 'python3',
  ii: 'ii',
  'redis-server': 'redis-server',
  rpcinfo: 'rpcbind',
  rpcbind: 'rpcbind',
  rpcgen: 'rpcsvc-proto',
  cc: 'gcc',
  promtool: 'prometheus',
  'systemd-socket-activate': 'systemd',
  haproxy: 'haproxy',
  curl: 'curl',
  // a path: a file the package provides (headers), not a command
  '/usr/include/tirpc/rpc/rpc.h': 'libtirpc-dev',
}
const missing = Object.keys(clients).filter((tool) =>
  tool.startsWith('/') ? !existsSync(tool) : spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0,
)
if (missing.length > 0) {
  const packages = missing.map((tool) => clients[tool])
  const canInstall = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0
  if (!canInstall) {
    console.error(
      `missing test clients: ${missing.join(', ')}; install them (Debian: apt-get install ${packages.join(' ')})`,
    )
    process.exit(1)
  }
  console.log(`installing test clients: ${packages.join(' ')}`)
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' })
  const { status } = spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit' })
  if (status !== 0) process.exit(1)
}

mkdirSync('.cache', { recursive: true })
rmSync(report, { force: true })
const results = []
for (const [index, [name, command, args]] of steps.entries()) {
  console.log(`\n[${index + 1}/${steps.length}] ${name} (node ${process.version})`)
  const start = Date.now()
  const { status } = spawnSync(command, args, { stdio: 'inherit' })
  results.push({ name, ok: status === 0, seconds: ((Date.now() - start) / 1000).toFixed(1) })
  if (status !== 0) break
}

console.log('\nsummary:')
for (const { name, ok, seconds } of results) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name} (${seconds} s)`)
if (existsSync(report)) {
  const { numPassedTests, numFailedTests, numPendingTests } = JSON.parse(readFileSync(report, 'utf8'))
  console.log(`tests: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests} skipped`)
}
const failed = results.some((r) => !r.ok) || results.length < steps.length
process.exit(failed ? 1 : 0)
