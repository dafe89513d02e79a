import { type ChildProcess, spawn } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@socketserver/compliance-tests'
import { afterEach, describe, expect, it } from 'vitest'

// Spawns the built package (pnpm build first), as a user's process would run it.
const fixture = fileURLToPath(new URL('./fixtures/hold-server.mjs', import.meta.url))
let child: ChildProcess | undefined
const sockets: net.Socket[] = []
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy()
  child?.kill('SIGKILL')
  child = undefined
})

function open(port: number): Promise<{ socket: net.Socket; greeted: Promise<boolean> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    sockets.push(socket)
    socket.on('error', () => {})
    const greeted = new Promise<boolean>((done) => {
      socket.once('data', () => done(true))
      socket.once('close', () => done(false))
    })
    socket.once('connect', () => resolve({ socket, greeted }))
    socket.once('error', reject)
  })
}

describe('descriptor exhaustion', () => {
  it('is reported (EMFILE on server:error, one log line) though libuv hides it, and the server serves again', async () => {
    child = spawn('sh', ['-c', 'ulimit -n 48 && exec "$0" "$1"', process.execPath, fixture], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const lines: Array<Record<string, unknown>> = []
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) lines.push(JSON.parse(line))
    })
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    await waitFor(() => lines.some((l) => 'port' in l), { what: 'the server to listen' })
    const port = lines.find((l) => 'port' in l)!.port as number
    const clients = await Promise.all(Array.from({ length: 80 }, () => open(port)))
    const greeted = await Promise.all(clients.map((c) => c.greeted))
    expect(greeted.filter(Boolean).length).toBeGreaterThan(0)
    expect(greeted.filter((g) => !g).length).toBeGreaterThan(0) // closed by libuv as they arrived
    await waitFor(() => lines.some((l) => l.listenerError === 'EMFILE'), {
      what: 'EMFILE reported',
      timeout: 5_000,
    })
    await new Promise((r) => setTimeout(r, 1_500)) // the watch keeps seeing it; the log must not
    expect(lines.filter((l) => l.listenerError === 'EMFILE').length).toBeGreaterThan(1)
    expect(stderr.split('\n').filter((l) => l.includes('listener error'))).toHaveLength(1)
    expect(stderr).toContain('EMFILE')
    for (const socket of sockets.splice(0)) socket.destroy()
    // Served again once the server has seen those connections close and freed their descriptors.
    let servedAgain = false
    for (let attempt = 0; attempt < 50 && !servedAgain; attempt++) {
      servedAgain = await (await open(port)).greeted
      if (!servedAgain) await new Promise((r) => setTimeout(r, 100))
    }
    expect(servedAgain).toBe(true)
    expect(child.exitCode).toBeNull()
  })
})
