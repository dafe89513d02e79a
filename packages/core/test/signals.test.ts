import { BaseRequestHandler, shutdownOnSignals } from '@socketserver/core'
import { describe, expect, it } from 'vitest'
import { type MemoryRequest, MemoryServer } from './helpers/memory-server.js'
import { gate, waitFor } from './helpers/wait.js'

describe('shutdownOnSignals', () => {
  it('drains every server on the signal, cuts short what outlives the timeout, then removes its handlers', async () => {
    const release = gate()
    class Stuck extends BaseRequestHandler<MemoryRequest, string, MemoryServer> {
      override async handle() {
        await Promise.race([this.request.closed, release.promise])
      }
    }
    const a = await MemoryServer.create('memory', Stuck)
    const b = await MemoryServer.create('memory', Stuck)
    const loops = [a.serveForever({ pollInterval: 5 }), b.serveForever({ pollInterval: 5 })]
    a.receive()
    await waitFor(() => a.activeRequestCount === 1, 'the handler to start')

    const before = process.listenerCount('SIGUSR2')
    const signals: string[] = []
    let closed: { aborted: number } | undefined
    shutdownOnSignals([a, b], {
      signals: ['SIGUSR2'],
      timeout: 10,
      onSignal: (signal) => signals.push(signal),
      onClosed: (result) => (closed = result),
    })
    expect(process.listenerCount('SIGUSR2')).toBe(before + 1)
    process.kill(process.pid, 'SIGUSR2')
    await waitFor(() => closed !== undefined, 'onClosed')
    await Promise.all(loops)
    expect(signals).toEqual(['SIGUSR2'])
    expect(closed).toEqual({ aborted: 1 })
    expect(a.closed && b.closed).toBe(true)
    expect(a.listening || b.listening).toBe(false)
    expect(process.listenerCount('SIGUSR2')).toBe(before)
    release.open()
  })

  it('returns a function that removes its handlers without closing anything', async () => {
    const server = await MemoryServer.create('memory', BaseRequestHandler)
    const before = process.listenerCount('SIGUSR2')
    const remove = shutdownOnSignals([server], { signals: ['SIGUSR2'] })
    expect(process.listenerCount('SIGUSR2')).toBe(before + 1)
    remove()
    expect(process.listenerCount('SIGUSR2')).toBe(before)
    expect(server.closed).toBe(false)
    await server.serverClose()
  })
})
