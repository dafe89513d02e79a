import { BaseRequestHandler, type BaseServerOptions, type EventLoopServerOptions } from '@socketserver/core'
import { describe, expect, it } from 'vitest'
import { EventLoopMemoryServer, type MemoryRequest, MemoryServer } from './helpers/memory-server.js'
import { gate, settle, waitFor } from './helpers/wait.js'

describe('options beat field initialisers of subclasses and mix-ins', () => {
  it('EventLoopMixIn keeps maxConcurrentRequests passed as an option', async () => {
    const server = new EventLoopMemoryServer('here', BaseRequestHandler, {
      maxConcurrentRequests: 3,
    } as BaseServerOptions & EventLoopServerOptions)
    expect(server.maxConcurrentRequests).toBe(3)
    expect(new EventLoopMemoryServer('here', BaseRequestHandler).maxConcurrentRequests).toBe(
      Number.POSITIVE_INFINITY,
    )
    await server.serverClose()
  })
})

describe('one at a time stays one at a time across shutdown()', () => {
  it('a new serveForever() waits for the request the previous loop left running', async () => {
    const release = gate()
    let running = 0
    let maxRunning = 0
    class Slow extends BaseRequestHandler<MemoryRequest> {
      override async handle() {
        running++
        maxRunning = Math.max(maxRunning, running)
        if (this.request.id === first) await release.promise
        running--
      }
    }
    const server = await MemoryServer.create('here', Slow)
    const firstLoop = server.serveForever({ pollInterval: 10 })
    const first = server.receive().request.id
    await waitFor(() => running === 1, 'first handler running')
    await server.shutdown()
    await firstLoop
    const secondLoop = server.serveForever({ pollInterval: 10 })
    server.receive()
    await settle(20)
    expect(running).toBe(1) // the second request has not started beside the first
    release.open()
    await waitFor(() => server.activeRequestCount === 0 && running === 0, 'both handled')
    expect(maxRunning).toBe(1)
    await server.shutdown()
    await secondLoop
    await server.serverClose()
  })
})

describe('shutdownGracefully() then serverClose()', () => {
  it('serverClose() does not wait forever for a handler that ignored being cut short', async () => {
    const never = gate()
    class Stubborn extends BaseRequestHandler<MemoryRequest> {
      override async handle() {
        await never.promise // ignores the abort
      }
    }
    const server = await EventLoopMemoryServer.create('here', Stubborn)
    const loop = server.serveForever({ pollInterval: 10 })
    const { request } = server.receive()
    await waitFor(() => server.activeRequestCount === 1, 'handler running')
    const { aborted } = await server.shutdownGracefully({ timeout: 20 })
    expect(aborted).toBe(1)
    expect(request.releases).toContain('abort')
    await server.serverClose() // resolves although the handler is still stuck
    await loop
    expect(server.activeRequestCount).toBe(1)
    never.open()
    await waitFor(() => server.activeRequestCount === 0, 'handler finally done')
  }, 10_000)
})
