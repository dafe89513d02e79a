import { settle, waitFor } from '@socketserver/compliance-tests'
import { ForkingMixIn } from '@socketserver/concurrency-fork'
import { TCPServer } from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { Controlled, PidEcho } from './fixtures/handlers.mjs'
import { expectNoChildren, handlerModule, isAlive, LineClient } from './helpers.js'

class ForkingTCPServer extends ForkingMixIn(TCPServer) {
  errors: unknown[] = []
  collected = 0
  override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
    this.errors.push(error)
  }
  override collectChildren(options?: { blocking?: boolean }) {
    this.collected++
    return super.collectChildren(options)
  }
}

const servers = new Set<ForkingTCPServer>()
const clients = new Set<LineClient>()

async function serve(Handler: unknown, options: Record<string, unknown> = {}): Promise<ForkingTCPServer> {
  const server = await ForkingTCPServer.create({ host: '127.0.0.1', port: 0 }, Handler as typeof PidEcho, {
    handlerModule,
    forkMode: 'per-request',
    ...options,
  })
  servers.add(server)
  void server.serveForever({ pollInterval: 20 })
  return server
}

async function connect(server: ForkingTCPServer): Promise<LineClient> {
  const client = await LineClient.connect({ host: '127.0.0.1', port: server.serverAddress.port })
  clients.add(client)
  return client
}

afterEach(async () => {
  for (const client of clients) client.close()
  clients.clear()
  for (const server of servers) {
    await server.shutdown()
    await server.serverClose()
  }
  servers.clear()
  await expectNoChildren()
})

describe("ForkingMixIn(TCPServer), forkMode 'per-request' (Python's semantic)", () => {
  it('starts no child before a request, and a new child for each request, which exits after it', async () => {
    const server = await serve(PidEcho)
    expect(server.maxChildren).toBe(40)
    expect(server.activeChildren.size).toBe(0)
    const pids: number[] = []
    for (let i = 0; i < 3; i++) {
      const client = await connect(server)
      client.send('hi\n')
      const pid = Number((await client.line())!.split(':')[0])
      expect(server.activeChildren.has(pid)).toBe(true)
      client.socket.end()
      expect(await client.rest()).toBe('')
      await waitFor(() => !isAlive(pid), { what: `child ${pid} to exit after its request` })
      pids.push(pid)
    }
    expect(new Set(pids).size).toBe(3)
    await waitFor(() => server.activeChildren.size === 0, { what: 'activeChildren to empty' })
  })

  it('runs at most maxChildren at once; the next request waits for a child to exit', async () => {
    const server = await serve(Controlled, { maxChildren: 2 })
    const first = await connect(server)
    const second = await connect(server)
    const firstPid = Number(await first.line())
    await second.line()
    const third = await connect(server)
    let thirdPid: number | undefined
    const served = third.line().then((line) => (thirdPid = Number(line)))
    // The loop waits in collectChildren() (from serviceActions or processRequest), as Python's does.
    await waitFor(() => server.collected > 0, { what: 'the loop to wait in collectChildren' })
    await settle(50)
    expect(thirdPid).toBeUndefined()
    expect(server.activeChildren.size).toBe(2)
    first.socket.end()
    await served
    expect(thirdPid).toBeGreaterThan(0)
    expect(isAlive(firstPid)).toBe(false)
    expect(server.activeChildren.size).toBe(2)
  })

  it('drops a request still waiting for a child slot when the server closes (as a queued one)', async () => {
    const server = await serve(Controlled, { maxChildren: 1 })
    const first = await connect(server)
    await first.line()
    const second = await connect(server)
    // The loop waits in collectChildren() (serviceActions or processRequest), the request with it or queued.
    await waitFor(() => server.collected > 0, { what: 'the loop to wait for a child slot' })
    await settle(20)
    // As in Python, the loop stops once collectChildren() returns: when the first child exits.
    const stopping = server.shutdown()
    const closing = server.serverClose()
    first.socket.end()
    await stopping
    await closing
    expect(await second.rest()).toBe('') // never handled
    expect(server.activeChildren.size).toBe(0)
  })

  it('collectChildren({ blocking: true }) waits for every child; serverClose too (blockOnClose)', async () => {
    const server = await serve(Controlled)
    const client = await connect(server)
    const pid = Number(await client.line())
    let collected = false
    const collecting = server.collectChildren({ blocking: true }).then(() => (collected = true))
    await settle(50)
    expect(collected).toBe(false)
    client.socket.end()
    await collecting
    expect(isAlive(pid)).toBe(false)
    expect(server.activeChildren.size).toBe(0)

    const again = await connect(server)
    const pid2 = Number(await again.line())
    await server.shutdown()
    const closing = server.serverClose()
    again.send('still served\n')
    expect(await again.line()).toBe('still served')
    again.socket.end()
    await closing
    expect(isAlive(pid2)).toBe(false)
  })

  it('reaps in serviceActions and handleTimeout, as Python does', async () => {
    const server = await ForkingTCPServer.create({ host: '127.0.0.1', port: 0 }, PidEcho, {
      handlerModule,
      forkMode: 'per-request',
      timeout: 10,
    })
    servers.add(server)
    await server.handleRequest() // no request: handleTimeout()
    expect(server.collected).toBe(1)
    const loop = server.serveForever({ pollInterval: 5 })
    await waitFor(() => server.collected >= 3, { what: 'serviceActions to collect children' })
    await server.shutdown()
    await loop
  })

  it('keeps spareChildren started ahead, each still taking one request only', async () => {
    const server = await serve(PidEcho, { spareChildren: 2, maxChildren: 3 })
    const spares = [...server.activeChildren]
    expect(spares).toHaveLength(2)
    const seen: number[] = []
    for (let i = 0; i < 3; i++) {
      const client = await connect(server)
      client.send('hi\n')
      const pid = Number((await client.line())!.split(':')[0])
      client.socket.end()
      await client.rest()
      await waitFor(() => !isAlive(pid), { what: `child ${pid} to exit after its one request` })
      seen.push(pid)
      await waitFor(() => server.activeChildren.size === 2, { what: 'the spares to be topped up' })
    }
    expect(spares).toContain(seen[0])
    expect(new Set(seen).size).toBe(3)
    // collectChildren({ blocking: true }) does not wait for spares, which have no request.
    await server.collectChildren({ blocking: true })
    expect(server.activeChildren.size).toBe(2)
  })

  it('reports a child killed mid-request and keeps serving', async () => {
    const server = await serve(Controlled)
    const client = await connect(server)
    const pid = Number(await client.line())
    process.kill(pid, 'SIGKILL')
    expect(await client.rest()).toBe('')
    await waitFor(() => server.errors.length === 1, { what: 'WorkerExitedError' })
    expect(server.errors[0]).toMatchObject({ code: 'SOCKSRV_WORKER_EXITED', signal: 'SIGKILL' })
    const next = await connect(server)
    expect(Number(await next.line())).not.toBe(pid)
  })
})
