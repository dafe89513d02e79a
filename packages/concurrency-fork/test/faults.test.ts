import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@socketserver/compliance-tests'
import { ForkingMixIn } from '@socketserver/concurrency-fork'
import { TCPServer } from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { Controlled } from './fixtures/handlers.mjs'
import { expectNoChildren, handlerModule, isAlive, LineClient, psChildren } from './helpers.js'

const serverMain = fileURLToPath(new URL('./fixtures/server-main.mjs', import.meta.url))
const started = new Set<ChildProcess>()
const clients = new Set<LineClient>()
const servers = new Set<TCPServer>()
/** Grandchildren (the forked children of a server process) that a test must see gone. */
const grandchildren = new Set<number>()

afterEach(async () => {
  for (const client of clients) client.close()
  clients.clear()
  for (const server of servers) {
    await server.shutdown()
    await server.serverClose()
  }
  servers.clear()
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await Promise.all(
    [...started].map((child) =>
      child.exitCode !== null || child.signalCode !== null
        ? undefined
        : new Promise((resolve) => child.once('exit', resolve)),
    ),
  )
  started.clear()
  // No orphan: every forked child of a server process is gone too (they exit when their parent does).
  await waitFor(() => [...grandchildren].every((pid) => !isAlive(pid)), {
    timeout: 10_000,
    what: `forked children ${[...grandchildren].filter(isAlive).join(', ')} to exit`,
  })
  grandchildren.clear()
  await expectNoChildren()
})

/** Starts fixtures/server-main.mjs; resolves with its process and what it printed first. */
async function startServerProcess(
  forkMode: 'pool' | 'per-request' = 'pool',
): Promise<{ process: ChildProcess; port: number; children: number[]; output: () => string }> {
  const child = spawn(process.execPath, [serverMain, forkMode], { stdio: ['ignore', 'pipe', 'inherit'] })
  started.add(child)
  let output = ''
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => (output += chunk))
  await waitFor(() => output.includes('\n') || child.exitCode !== null, {
    timeout: 15_000,
    what: 'the server',
  })
  const info = JSON.parse(output.slice(0, output.indexOf('\n'))) as { port: number; children: number[] }
  for (const pid of info.children) grandchildren.add(pid)
  return { process: child, ...info, output: () => output }
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}

async function connect(port: number): Promise<LineClient> {
  const client = await LineClient.connect({ host: '127.0.0.1', port })
  clients.add(client)
  return client
}

describe('ForkingMixIn faults and process lifecycle', () => {
  for (const forkMode of ['pool', 'per-request'] as const) {
    it(`drains children on SIGTERM to the parent: requests in flight finish, then every process exits (${forkMode})`, async () => {
      const server = await startServerProcess(forkMode)
      const a = await connect(server.port)
      const b = await connect(server.port)
      const pids = [Number(await a.line()), Number(await b.line())]
      for (const pid of pids) grandchildren.add(pid)
      expect(psChildren(server.process.pid).map((child) => child.pid)).toEqual(expect.arrayContaining(pids))
      server.process.kill('SIGTERM')
      // Still served while draining.
      a.send('after SIGTERM\n')
      expect(await a.line()).toBe('after SIGTERM')
      a.socket.end()
      expect(await a.rest()).toBe('')
      b.send('me too\n')
      expect(await b.line()).toBe('me too')
      b.socket.end()
      expect(await b.rest()).toBe('')
      expect(await exited(server.process)).toEqual({ code: 0, signal: null })
      expect(server.output()).toContain('drained')
      for (const pid of [...pids, ...server.children]) expect(isAlive(pid)).toBe(false)
      // New connections are refused once the parent is gone.
      await expect(LineClient.connect({ host: '127.0.0.1', port: server.port })).rejects.toThrow()
    })
  }

  it('leaves no orphan when the parent is killed with SIGKILL', async () => {
    const server = await startServerProcess('pool')
    const idle = server.children
    const client = await connect(server.port)
    const busy = Number(await client.line())
    expect(idle).toContain(busy)
    server.process.kill('SIGKILL')
    await exited(server.process)
    // The children see their IPC channel close and exit (the busy one once its request ends).
    client.send('parent gone\n')
    expect(await client.line()).toBe('parent gone')
    client.socket.end()
    await waitFor(() => idle.every((pid) => !isAlive(pid)), { timeout: 10_000, what: 'the orphans to exit' })
  })

  it('survives SIGKILL of a child mid-request under load: lost requests reported, the rest served', async () => {
    class ForkingTCPServer extends ForkingMixIn(TCPServer) {
      errors: unknown[] = []
      override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
        this.errors.push(error)
      }
    }
    const server = await ForkingTCPServer.create({ host: '127.0.0.1', port: 0 }, Controlled, {
      handlerModule,
      processes: 2,
    })
    servers.add(server)
    void server.serveForever({ pollInterval: 20 })
    const port = server.serverAddress.port
    const [victim] = [...server.activeChildren]
    let completed = 0
    let cut = 0
    let killed = false
    // 16 clients, each opening connection after connection with 5 round trips on each.
    const worker = async () => {
      for (let round = 0; round < 6; round++) {
        const client = await connect(port)
        const pid = await client.line()
        let ok = pid !== null
        for (let i = 0; ok && i < 5; i++) {
          client.send(`${round}.${i}\n`)
          ok = (await client.line()) === `${round}.${i}`
        }
        if (ok) {
          client.socket.end()
          await client.rest()
          completed++
        } else {
          cut++
        }
        client.close()
        clients.delete(client)
        if (!killed && completed >= 20) {
          killed = true
          process.kill(victim!, 'SIGKILL')
        }
      }
    }
    await Promise.all(Array.from({ length: 16 }, worker))
    expect(killed).toBe(true)
    expect(completed + cut).toBe(96)
    expect(cut).toBeGreaterThan(0) // the killed child had requests in flight
    // Every cut request is reported; so may be one whose client had its replies but whose handler
    // was still finishing (closing the connection) when the child died.
    await waitFor(() => server.errors.length >= cut, { what: 'a report per lost request' })
    await waitFor(() => server.activeRequestCount === 0, { what: 'every request to settle' })
    expect(server.errors.length).toBeLessThanOrEqual(cut + 16)
    for (const error of server.errors) expect(error).toMatchObject({ code: 'SOCKSRV_WORKER_EXITED' })
    expect(server.activeChildren.size).toBe(2)
    expect(server.activeChildren.has(victim!)).toBe(false)
    const after = await connect(port)
    expect(Number(await after.line())).toBeGreaterThan(0)
  })
})
