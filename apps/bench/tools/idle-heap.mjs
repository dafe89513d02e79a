#!/usr/bin/env node
// Heap-snapshot accounting of an idle connection (docs/perf/idle-connection.md):
//   node apps/bench/tools/idle-heap.mjs [--connections 2000] [kind ...]
// For each bench server kind (default: raw-net eventloop-stream eventloop-lines), starts
// `dist/server.js <kind>` with --heapsnapshot-signal, snapshots it with no connection, opens the
// connections from this process (a newline each, its echo awaited), snapshots it again, and prints
// the live bytes per connection grouped by node type and constructor (the difference / connections).
// Needs `pnpm --filter @socketserver/bench build` first.
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  options: { connections: { type: 'string', default: '2000' }, top: { type: 'string', default: '25' } },
  allowPositionals: true,
})
const connections = Number(values.connections)
const kinds = positionals.length ? positionals : ['raw-net', 'eventloop-stream', 'eventloop-lines']
const serverJs = new URL('../dist/server.js', import.meta.url).pathname
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Bytes and counts by `type:name` of a .heapsnapshot file. */
function aggregate(file) {
  const snapshot = JSON.parse(readFileSync(file, 'utf8'))
  const { node_fields: fields, node_types: types } = snapshot.snapshot.meta
  const typeNames = types[0]
  const width = fields.length
  const iType = fields.indexOf('type')
  const iName = fields.indexOf('name')
  const iSize = fields.indexOf('self_size')
  const { nodes, strings } = snapshot
  const groups = new Map()
  let total = 0
  for (let i = 0; i < nodes.length; i += width) {
    const type = typeNames[nodes[i + iType]]
    // Strings and numbers are grouped by type only: their names are their contents.
    const name = ['string', 'concatenated string', 'sliced string', 'number', 'code'].includes(type)
      ? ''
      : strings[nodes[i + iName]]
    const key = `${type}:${name}`
    const size = nodes[i + iSize]
    total += size
    const group = groups.get(key) ?? { count: 0, bytes: 0 }
    group.count++
    group.bytes += size
    groups.set(key, group)
  }
  return { groups, total }
}

async function snapshot(child, dir) {
  const before = new Set(readdirSync(dir))
  child.kill('SIGUSR2')
  for (;;) {
    await sleep(200)
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f))
    if (!file) continue
    // Written in one go by the main thread; done once its size stops changing.
    const full = path.join(dir, file)
    const size = statSync(full).size
    await sleep(300)
    if (statSync(full).size === size && size > 0) return full
  }
}

function open(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('\n'))
    socket.once('data', () => resolve(socket))
    socket.once('error', reject)
  })
}

async function measure(kind) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'idle-heap-'))
  const child = spawn(process.execPath, ['--heapsnapshot-signal=SIGUSR2', serverJs, kind, '127.0.0.1'], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  try {
    const ready = await new Promise((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (d) => {
        out += d
        const line = out.split('\n').find((l) => l.startsWith('{'))
        if (line) resolve(JSON.parse(line))
      })
      child.once('exit', (code) => reject(new Error(`${kind} exited (${code})`)))
    })
    // One connection first, closed again: what the first connection loads (code, shapes) is not per connection.
    ;(await open(ready.port)).destroy()
    await sleep(300)
    const a = aggregate(await snapshot(child, dir))
    const sockets = []
    for (let i = 0; i < connections; i += 200)
      sockets.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(200, connections - i) }, () => open(ready.port)),
        )),
      )
    await sleep(500)
    const b = aggregate(await snapshot(child, dir))
    for (const s of sockets) s.destroy()
    return { a, b }
  } finally {
    child.stdin.end()
    child.kill()
    rmSync(dir, { recursive: true, force: true })
  }
}

for (const kind of kinds) {
  const { a, b } = await measure(kind)
  const rows = []
  for (const [key, g] of b.groups) {
    const before = a.groups.get(key) ?? { count: 0, bytes: 0 }
    const bytes = (g.bytes - before.bytes) / connections
    const count = (g.count - before.count) / connections
    if (Math.abs(bytes) >= 1) rows.push({ key, bytes, count })
  }
  rows.sort((x, y) => y.bytes - x.bytes)
  const total = (b.total - a.total) / connections
  console.log(
    `\n## ${kind}: ${total.toFixed(0)} bytes of live heap per idle connection (${connections} connections)\n`,
  )
  console.log('| bytes/conn | objects/conn | type:constructor |\n|---:|---:|---|')
  for (const r of rows.slice(0, Number(values.top)))
    console.log(`| ${r.bytes.toFixed(0)} | ${r.count.toFixed(2)} | \`${r.key}\` |`)
}
