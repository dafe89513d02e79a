#!/usr/bin/env node
// The consumer test: do the packages work for someone outside this repository who installs only
// some of them? Packs every package with `pnpm pack` (as `pnpm publish` would: workspace ranges
// become real ones), then, in a temporary folder outside the workspace, installs with plain `npm`
// from the tarballs (third-party dependencies such as node-unix-socket and typescript come from the
// registry) and runs servers from plain .mjs, .cjs (require) and .ts files, with real sockets:
//   1. tcp:      core + transport-tcp + stream-handlers + metrics (prom-client from the registry);
//                nothing of UDP, Unix or node-unix-socket.
//   2. unix:     core + transport-unix + stream-handlers; node-unix-socket's prebuilt binary works.
//   3. umbrella: @socketserver/socketserver alone (its dependencies resolve to the tarballs).
// The .ts programs are compiled with `tsc` (strict, module nodenext) from the registry, as a
// TypeScript user would: that checks the published .d.ts files resolve through `exports` (a loader
// such as tsx would only strip the types). On Node >= 23.6 the .ts file also runs directly (type
// stripping). Before the installs, each tarball goes through @arethetypeswrong/cli. Run after
// `pnpm build` (`--keep` keeps the temporary folder). Exits non-zero on any failure.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))
const keep = process.argv.includes('--keep')
const started = Date.now()

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 180_000, ...options })
  if (result.status !== 0) {
    process.stdout.write(result.stdout ?? '')
    process.stderr.write(result.stderr ?? '')
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`,
    )
  }
  return result.stdout
}

// Every publishable package of the workspace, built.
const packages = readdirSync(join(root, 'packages'))
  .map((dir) => ({ dir: join(root, 'packages', dir), manifest: join(root, 'packages', dir, 'package.json') }))
  .filter(({ manifest }) => existsSync(manifest))
  .map(({ dir, manifest }) => ({ dir, json: JSON.parse(readFileSync(manifest, 'utf8')) }))
  .filter(({ json }) => !json.private)
for (const { dir, json } of packages) {
  if (!existsSync(join(dir, 'dist'))) throw new Error(`${json.name} is not built: run pnpm build first`)
}

const work = mkdtempSync(join(tmpdir(), 'socketserver-consumer-'))
if (!relative(root, work).startsWith('..')) throw new Error(`${work} is inside the workspace`)
const tarballDir = join(work, 'tarballs')
mkdirSync(tarballDir)
const tarballs = {}
for (const { dir, json } of packages) {
  const before = new Set(readdirSync(tarballDir))
  run('pnpm', ['pack', '--pack-destination', tarballDir], { cwd: dir })
  const [file] = readdirSync(tarballDir).filter((name) => !before.has(name))
  if (!file) throw new Error(`pnpm pack wrote no tarball for ${json.name}`)
  tarballs[json.name] = join(tarballDir, file)
}
console.log(`packed ${packages.length} packages into ${tarballDir}`)

// Are the types wrong? @arethetypeswrong/cli on each tarball, profile `strict`: the packages ship
// ESM and CJS with `main`/`types` fallbacks, so every resolution mode (node10, node16 from CJS and
// from ESM, bundler) must find matching types; on a problem the full table is printed.
const attw = join(root, 'node_modules/.bin/attw')
let attwFailures = 0
for (const [name, file] of Object.entries(tarballs)) {
  const quiet = spawnSync(attw, [file, '--profile', 'strict', '--quiet'], { encoding: 'utf8' })
  if (quiet.status === 0) console.log(`attw ${name}: no problems (node10, node16 CJS/ESM, bundler)`)
  else {
    attwFailures++
    spawnSync(attw, [file, '--profile', 'strict', '--format', 'ascii'], { stdio: 'inherit' })
    console.error(`attw ${name}: FAILED`)
  }
}

// The TypeScript a consumer would use: the versions this workspace builds with.
const versionOf = (name) =>
  JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version
const typescriptDeps = [`typescript@${versionOf('typescript')}`, `@types/node@${versionOf('@types/node')}`]
const tsconfig = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2022', 'ESNext.Disposable'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    noEmitOnError: true,
    types: ['node'],
  },
  files: ['server.ts'],
}
const nodeMajorMinor = process.versions.node.split('.').map(Number)
const canStripTypes = nodeMajorMinor[0] > 23 || (nodeMajorMinor[0] === 23 && nodeMajorMinor[1] >= 6)

// ---- the programs each consumer runs ----

// A TCP echo server on 127.0.0.1:0 and a client sending every byte value: bytes back unchanged.
const tcpBody = (server) => `
class Echo extends StreamRequestHandler {
  async handle() {
    let chunk
    while ((chunk = await this.rfile.read1()).length) await this.wfile.write(chunk)
  }
}
const server = await ${server}.create({ host: '127.0.0.1', port: 0 }, Echo)
void server.serveForever()
const { port } = server.serverAddress
const sent = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.alloc(100_000, 'x')])
const received = await new Promise((resolve, reject) => {
  const chunks = []
  const client = net.connect(port, '127.0.0.1', () => client.end(sent))
  client.on('data', (chunk) => chunks.push(chunk))
  client.on('end', () => resolve(Buffer.concat(chunks)))
  client.on('error', reject)
})
await server.shutdown()
await server.serverClose()
if (!received.equals(sent)) throw new Error(\`TCP echo: sent \${sent.length} bytes, got \${received.length} back\`)
console.log(\`TCP echo: \${received.length} bytes round-tripped through ${server}\`)
`

// A Unix datagram echo server on a temporary path and a client socket bound to another path.
const unixDatagramBody = `
class DatagramEcho extends DatagramRequestHandler {
  async handle() {
    await this.wfile.write(this.packet)
  }
}
const dir = mkdtempSync(join(tmpdir(), 'consumer-unix-'))
try {
  const server = await UnixDatagramServer.create(join(dir, 'server.sock'), DatagramEcho)
  void server.serveForever()
  let deliver
  const reply = new Promise((resolve) => (deliver = resolve))
  const client = await UnixDatagramSocket.open((packet) => deliver(packet), (error) => console.error(error))
  client.bind(join(dir, 'client.sock'))
  const sent = Buffer.from([0, 1, 2, 254, 255, ...Buffer.from(' unix datagram \\u2603')])
  await client.send(sent, server.serverAddress)
  const received = await reply
  client.close()
  await server.shutdown()
  await server.serverClose()
  if (!received.equals(sent)) throw new Error(\`Unix datagram echo: got \${received.toString('hex')}\`)
  console.log(\`Unix datagram echo: \${received.length} bytes round-tripped through UnixDatagramServer\`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
`

// Python's ThreadingTCPServer and ForkingTCPServer from the umbrella, the handler in this file.
const poolBody = `
const poolServers = [
  [ThreadingTCPServer, { threads: 1 }],
  [ForkingTCPServer, { processes: 1 }],
]
for (const [Server, options] of poolServers) {
  const server = await Server.create({ host: '127.0.0.1', port: 0 }, Echo, { handlerModule: import.meta.url, ...options })
  void server.serveForever()
  const received = await new Promise((resolve, reject) => {
    const chunks = []
    const client = net.connect(server.serverAddress.port, '127.0.0.1', () => client.end('pool\\n'))
    client.on('data', (chunk) => chunks.push(chunk))
    client.on('end', () => resolve(Buffer.concat(chunks).toString()))
    client.on('error', reject)
  })
  await server.shutdown()
  await server.serverClose()
  if (received !== 'pool\\n') throw new Error(\`\${Server.name}: got \${JSON.stringify(received)}\`)
  console.log(\`\${Server.name}: a line round-tripped through a \${Server === ForkingTCPServer ? 'child process' : 'worker thread'}\`)
}
`

const esmHead = `import net from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
`
const cjsHead = `const net = require('node:net')
const { mkdtempSync, rmSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')
`

// TypeScript: the same round trip with types, so tsc checks the published declarations.
const tsTcp = (imports, server) => `${imports}
import net from 'node:net'

export class Echo extends StreamRequestHandler {
  override async handle(): Promise<void> {
    let chunk: Buffer
    while ((chunk = await this.rfile.read1()).length > 0) await this.wfile.write(chunk)
  }
}

async function main(): Promise<void> {
  await using server = await ${server}.create({ host: '127.0.0.1', port: 0 }, Echo)
  void server.serveForever()
  const address: InetAddress = server.serverAddress
  const sent: Buffer = Buffer.from('typescript \\u2603\\n')
  const received = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    const client = net.connect(address.port, address.address, () => client.end(sent))
    client.on('data', (chunk: Buffer) => chunks.push(chunk))
    client.on('end', () => resolve(Buffer.concat(chunks)))
    client.on('error', reject)
  })
  await server.shutdown()
  if (!received.equals(sent)) throw new Error(\`TypeScript TCP echo: got \${received.toString()}\`)
  console.log(\`TypeScript TCP echo: \${received.length} bytes through ${server}\`)
}

if (!isHandlerWorker()) await main()
`

const tsUnix = `import { isHandlerWorker } from '@socketserver/core'
import { DatagramRequestHandler } from '@socketserver/stream-handlers'
import { UnixDatagramServer, UnixDatagramSocket } from '@socketserver/transport-unix'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export class DatagramEcho extends DatagramRequestHandler<string, unknown, UnixDatagramSocket> {
  override async handle(): Promise<void> {
    await this.wfile.write(this.packet)
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'consumer-unix-ts-'))
  try {
    await using server = await UnixDatagramServer.create(join(dir, 'server.sock'), DatagramEcho)
    void server.serveForever()
    const path: string = server.serverAddress
    let deliver: (packet: Buffer) => void = () => {}
    const reply = new Promise<Buffer>((resolve) => (deliver = resolve))
    const client = await UnixDatagramSocket.open(
      (packet: Buffer) => deliver(packet),
      (error: Error) => console.error(error),
    )
    client.bind(join(dir, 'client.sock'))
    await client.send(Buffer.from('typescript datagram'), path)
    const received = await reply
    client.close()
    await server.shutdown()
    if (received.toString() !== 'typescript datagram') throw new Error(\`got \${received.toString()}\`)
    console.log(\`TypeScript Unix datagram echo: \${received.length} bytes through UnixDatagramServer\`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (!isHandlerWorker()) await main()
`

// @socketserver/metrics around the TCP echo: subscribed before the server listens, then scraped.
const metricsAround = (body) => `const metrics = new ServerMetrics()
${body}
const exposition = await metrics.scrape()
metrics.close()
if (!/^socketserver_requests_ended_total\\{server="tcp:127\\.0\\.0\\.1:\\d+"\\} 1$/m.test(exposition))
  throw new Error(\`metrics: the request was not counted:\\n\${exposition}\`)
console.log('metrics: 1 request counted, in the Prometheus text format')
`

const consumers = [
  {
    name: 'tcp',
    install: [
      '@socketserver/core',
      '@socketserver/transport-tcp',
      '@socketserver/stream-handlers',
      '@socketserver/metrics',
    ],
    forbidden: [
      '@socketserver/transport-udp',
      '@socketserver/transport-unix',
      '@socketserver/concurrency-thread',
      '@socketserver/concurrency-fork',
      '@socketserver/socketserver',
      'node-unix-socket',
    ],
    mjs: `${esmHead}import { EventLoopTCPServer, TCPServer } from '@socketserver/transport-tcp'
import { StreamRequestHandler } from '@socketserver/stream-handlers'
import { ServerMetrics } from '@socketserver/metrics'
${metricsAround(tcpBody('EventLoopTCPServer'))}`,
    cjs: `${cjsHead}const { EventLoopTCPServer } = require('@socketserver/transport-tcp')
const { StreamRequestHandler } = require('@socketserver/stream-handlers')
const { ServerMetrics } = require('@socketserver/metrics')
;(async () => {${metricsAround(tcpBody('EventLoopTCPServer'))}})().catch((error) => { console.error(error); process.exit(1) })
`,
    ts: tsTcp(
      `import { type InetAddress, isHandlerWorker } from '@socketserver/core'
import { type MetricsEndpoint, serveMetrics } from '@socketserver/metrics'
import { StreamRequestHandler } from '@socketserver/stream-handlers'
import { EventLoopTCPServer } from '@socketserver/transport-tcp'

const endpoint: MetricsEndpoint = await serveMetrics({ host: '127.0.0.1', port: 0 })
await endpoint.close()`,
      'EventLoopTCPServer',
    ),
  },
  {
    name: 'unix',
    install: ['@socketserver/core', '@socketserver/transport-unix', '@socketserver/stream-handlers'],
    required: ['node-unix-socket'],
    forbidden: ['@socketserver/transport-tcp', '@socketserver/transport-udp', '@socketserver/socketserver'],
    mjs: `${esmHead}import { UnixDatagramServer, UnixDatagramSocket } from '@socketserver/transport-unix'
import { DatagramRequestHandler } from '@socketserver/stream-handlers'
${unixDatagramBody}`,
    cjs: `${cjsHead}const { UnixDatagramServer, UnixDatagramSocket } = require('@socketserver/transport-unix')
const { DatagramRequestHandler } = require('@socketserver/stream-handlers')
;(async () => {${unixDatagramBody}})().catch((error) => { console.error(error); process.exit(1) })
`,
    ts: tsUnix,
  },
  {
    name: 'umbrella',
    install: ['@socketserver/socketserver'],
    required: ['node-unix-socket', '@socketserver/concurrency-thread', '@socketserver/concurrency-fork'],
    forbidden: ['@socketserver/compliance-tests'],
    // Workers and children import this file for Echo: only the main process runs the checks.
    mjs: `${esmHead}import {
  DatagramRequestHandler,
  EventLoopTCPServer,
  ForkingTCPServer,
  isHandlerWorker,
  StreamRequestHandler,
  ThreadingTCPServer,
  UnixDatagramServer,
  UnixDatagramSocket,
} from '@socketserver/socketserver'
export class Echo extends StreamRequestHandler {
  async handle() {
    let chunk
    while ((chunk = await this.rfile.read1()).length) await this.wfile.write(chunk)
  }
}
if (!isHandlerWorker()) {
${tcpBody('EventLoopTCPServer').replace(/^class Echo[\s\S]*?^}\n/m, '')}
${unixDatagramBody}
${poolBody}
}`,
    cjs: `${cjsHead}const { EventLoopTCPServer, StreamRequestHandler, ThreadingTCPServer, ForkingTCPServer } = require('@socketserver/socketserver')
if (typeof ThreadingTCPServer !== 'function' || typeof ForkingTCPServer !== 'function') throw new Error('umbrella: no Threading/Forking classes through require()')
;(async () => {${tcpBody('EventLoopTCPServer')}})().catch((error) => { console.error(error); process.exit(1) })
`,
    ts: tsTcp(
      `import { type InetAddress, isHandlerWorker, StreamRequestHandler, ThreadingTCPServer } from '@socketserver/socketserver'`,
      'ThreadingTCPServer',
    ).replace(
      "await ThreadingTCPServer.create({ host: '127.0.0.1', port: 0 }, Echo)",
      "await ThreadingTCPServer.create({ host: '127.0.0.1', port: 0 }, Echo, {\n    handlerModule: import.meta.url,\n    threads: 1,\n  })",
    ),
  },
]

/** Every package under node_modules (scoped ones too), by name. */
function installedNames(dir) {
  const names = []
  const modules = join(dir, 'node_modules')
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith('.')) continue
    if (entry.startsWith('@'))
      for (const inner of readdirSync(join(modules, entry))) names.push(`${entry}/${inner}`)
    else names.push(entry)
  }
  return names
}

const npmEnv = {
  ...process.env,
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
}
let failures = attwFailures
try {
  for (const consumer of consumers) {
    const t0 = Date.now()
    console.log(
      `\n--- consumer "${consumer.name}": npm install ${consumer.install.join(' ')} (from tarballs)`,
    )
    const dir = join(work, consumer.name)
    mkdirSync(dir)
    // Packages not installed directly resolve to their tarballs too (what the registry would serve).
    const overrides = Object.fromEntries(
      Object.entries(tarballs)
        .filter(([name]) => !consumer.install.includes(name))
        .map(([name, file]) => [name, `file:${file}`]),
    )
    writeFileSync(
      join(dir, 'package.json'),
      `${JSON.stringify({ name: `consumer-${consumer.name}`, private: true, type: 'module', overrides }, null, 2)}\n`,
    )
    try {
      run('npm', ['install', '--no-package-lock', ...consumer.install.map((name) => tarballs[name])], {
        cwd: dir,
        env: npmEnv,
      })
      console.log(run('npm', ['ls', '--all', '--omit=dev'], { cwd: dir, env: npmEnv }).trimEnd())
      const names = installedNames(dir)
      const forbidden = names.filter((name) =>
        consumer.forbidden.some((f) => name === f || name.startsWith(`${f}-`)),
      )
      if (forbidden.length > 0) throw new Error(`installed but not asked for: ${forbidden.join(', ')}`)
      const missing = (consumer.required ?? []).filter((name) => !names.includes(name))
      if (missing.length > 0) throw new Error(`not installed: ${missing.join(', ')}`)
      console.log(`installed packages: ${names.join(', ')}`)

      writeFileSync(join(dir, 'server.mjs'), consumer.mjs)
      writeFileSync(join(dir, 'server.cjs'), consumer.cjs)
      console.log('[mjs]', run(process.execPath, ['server.mjs'], { cwd: dir }).trimEnd())
      console.log('[cjs]', run(process.execPath, ['server.cjs'], { cwd: dir }).trimEnd())

      run('npm', ['install', '--no-package-lock', '--save-dev', ...typescriptDeps], { cwd: dir, env: npmEnv })
      writeFileSync(join(dir, 'server.ts'), consumer.ts)
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2))
      run(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: dir })
      console.log('[ts, tsc]', run(process.execPath, ['server.js'], { cwd: dir }).trimEnd())
      if (canStripTypes)
        console.log('[ts, node]', run(process.execPath, ['server.ts'], { cwd: dir }).trimEnd())
      console.log(`consumer "${consumer.name}": ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
    } catch (error) {
      failures++
      console.error(`consumer "${consumer.name}": FAILED: ${error.message}`)
    }
  }
} finally {
  if (keep) console.log(`\nkept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}

const seconds = ((Date.now() - started) / 1000).toFixed(1)
console.log(
  `\nattw: ${packages.length - attwFailures} of ${packages.length} packages clean; consumers (node ${process.version}): ` +
    `${consumers.length - (failures - attwFailures)} passed, ${failures - attwFailures} failed; ${seconds} s`,
)
process.exit(failures > 0 ? 1 : 0)
