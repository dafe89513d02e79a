import { BaseRequestHandler } from '@socketserver/core'
import { afterEach, describe, expect, it } from 'vitest'
import { EventLoopMemoryServer, type MemoryRequest } from './helpers/memory-server.js'
import { gate, settle, waitFor } from './helpers/wait.js'

const servers: EventLoopMemoryServer[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.blockOnClose = false
    await server.shutdown()
    await server.serverClose()
  }
})

/** Handlers that wait for the test to release them, one gate per request, in arrival order. */
function gatedHandler() {
  const gates: Array<ReturnType<typeof gate>> = []
  const started: number[] = []
  const finished: number[] = []
  class Gated extends BaseRequestHandler<MemoryRequest, string, EventLoopMemoryServer> {
    override async handle() {
      const g = gate()
      gates.push(g)
      started.push(this.request.id)
      await g.promise
      finished.push(this.request.id)
    }
  }
  return { Gated, gates, started, finished }
}

describe('EventLoopMixIn', () => {
  it('runs every request at once by default (maxConcurrentRequests = Infinity)', async () => {
    const { Gated, gates, started } = gatedHandler()
    const server = await EventLoopMemoryServer.create('memory', Gated)
    servers.push(server)
    expect(server.maxConcurrentRequests).toBe(Number.POSITIVE_INFINITY)
    const loop = server.serveForever({ pollInterval: 5 })
    for (let i = 0; i < 5; i++) server.receive()
    await waitFor(() => started.length === 5, 'five handlers running')
    expect(server.activeRequestCount).toBe(5)
    expect(server.queuedRequestCount).toBe(0)
    for (const g of gates) g.open()
    await waitFor(() => server.activeRequestCount === 0, 'every handler to end')
    await server.shutdown()
    await loop
  })

  it('runs at most maxConcurrentRequests at once; the rest wait in the queue, in order', async () => {
    const { Gated, gates, started, finished } = gatedHandler()
    const server = await EventLoopMemoryServer.create('memory', Gated, {})
    servers.push(server)
    server.maxConcurrentRequests = 2
    const loop = server.serveForever({ pollInterval: 5 })
    const ids = Array.from({ length: 5 }, () => server.receive().request.id)
    await waitFor(() => started.length === 2, 'two handlers running')
    await settle()
    expect(started).toEqual(ids.slice(0, 2))
    expect(server.activeRequestCount).toBe(2)
    expect(server.queuedRequestCount).toBe(3)

    gates[1]!.open() // the second ends first: its slot goes to the third request
    await waitFor(() => started.length === 3, 'the third handler to start')
    await settle()
    expect(finished).toEqual([ids[1]])
    expect(started).toEqual(ids.slice(0, 3))
    expect(server.activeRequestCount).toBe(2)
    expect(server.queuedRequestCount).toBe(2)

    for (let i = 0; i < 5; i++) {
      await waitFor(() => gates.length > i, `handler ${i} to start`)
      gates[i]!.open()
    }
    await waitFor(() => finished.length === 5, 'every handler to end')
    expect(started).toEqual(ids)
    expect(server.activeRequestCount).toBe(0)
    await server.shutdown()
    await loop
  })

  it('reports a handler error to handleError and shuts the request down', async () => {
    const boom = new Error('boom')
    class Failing extends BaseRequestHandler<MemoryRequest, string, EventLoopMemoryServer> {
      override async handle() {
        await settle(1)
        throw boom
      }
    }
    class Quiet extends EventLoopMemoryServer {
      errors: unknown[] = []
      override handleError(_request: MemoryRequest, _clientAddress: string, error: unknown) {
        this.errors.push(error)
      }
    }
    const server = await Quiet.create('memory', Failing)
    servers.push(server)
    const { request } = server.receive()
    await server.handleRequest() // returns before the handler has finished
    await request.closed
    expect(server.errors).toEqual([boom])
    expect(request.releases).toEqual(['shutdown'])
    await waitFor(() => server.activeRequestCount === 0, 'the request to be released')
  })

  it('serves requests that arrive while the loop waits, each followed by serviceActions(), in order', async () => {
    const handled: number[] = []
    class Sync extends BaseRequestHandler<MemoryRequest, string, EventLoopMemoryServer> {
      override handle() {
        handled.push(this.request.id)
      }
    }
    class Counting extends EventLoopMemoryServer {
      actions = 0
      verifications = 0
      asyncVerify = false
      override serviceActions() {
        this.actions++
      }
      override verifyRequest(): boolean | Promise<boolean> {
        this.verifications++
        return this.asyncVerify ? Promise.resolve(true) : true
      }
    }
    const server = await Counting.create('memory', Sync)
    servers.push(server)
    const loop = server.serveForever({ pollInterval: 60_000 })
    await settle()
    const ids = Array.from({ length: 5 }, () => server.receive().request.id)
    await waitFor(() => handled.length === 5, 'five requests handled')
    expect(handled).toEqual(ids)
    expect(server.actions).toBe(5) // once per request: no poll wake-up in a 60 s interval
    // A hook that answers with a promise: the loop waits for it, and still serves every request in order.
    server.asyncVerify = true
    const more = Array.from({ length: 5 }, () => server.receive().request.id)
    await waitFor(() => handled.length === 10, 'five more handled')
    expect(handled).toEqual([...ids, ...more])
    expect(server.verifications).toBe(10)
    expect(server.actions).toBe(10)
    await server.shutdown()
    await loop
  })

  it('serviceActions() that throws after a request served on arrival rejects serveForever()', async () => {
    const boom = new Error('actions failed')
    class Throwing extends EventLoopMemoryServer {
      override serviceActions() {
        if (this.activeRequestCount === 0 && this.queuedRequestCount === 0 && armed) throw boom
      }
    }
    let armed = false
    const server = await Throwing.create('memory', BaseRequestHandler)
    servers.push(server)
    const loop = server.serveForever({ pollInterval: 60_000 })
    await settle()
    armed = true
    server.receive()
    await expect(loop).rejects.toBe(boom)
  })

  it('shutdown() called by a handler served on arrival stops the loop', async () => {
    class Stops extends BaseRequestHandler<MemoryRequest, string, EventLoopMemoryServer> {
      override handle() {
        void this.server.shutdown()
      }
    }
    const server = await EventLoopMemoryServer.create('memory', Stops)
    servers.push(server)
    const loop = server.serveForever({ pollInterval: 60_000 })
    await settle()
    const { request } = server.receive()
    await loop
    expect(request.releases).toEqual(['shutdown'])
    server.receive() // not served any more: waits in the queue
    await settle()
    expect(server.queuedRequestCount).toBe(1)
  })
})
