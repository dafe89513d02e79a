import diagnostics from 'node:diagnostics_channel'
import { BaseRequestHandler, channels, QueueFullError } from '@socketserver/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { EventLoopMemoryServer, type MemoryRequest, MemoryServer } from './helpers/memory-server.js'
import { waitFor } from './helpers/wait.js'

class Echoish extends BaseRequestHandler<MemoryRequest, string, MemoryServer> {
  override handle() {
    if (this.clientAddress === 'bad') throw new Error('bad client')
  }
}
class Quiet extends MemoryServer {
  override verifyRequest(_request: MemoryRequest, clientAddress: string) {
    return clientAddress !== 'refused'
  }
  override handleError() {}
}

/** Runs one of each event: listening, start/end, error, dropped (verify and queue full), close. */
async function exercise(Server: typeof MemoryServer = Quiet) {
  const server = await Server.create('memory', Echoish, { maxQueuedRequests: 1 })
  const ok = server.receive('ok')
  expect(server.receive('overflow').queued).toBe(false)
  await server.handleRequest()
  server.receive('bad')
  await server.handleRequest()
  server.receive('refused')
  await server.handleRequest()
  await server.serverClose()
  await waitFor(() => server.activeRequestCount === 0, 'requests to end')
  return { server, ok: ok.request }
}

const names = Object.keys(channels) as Array<keyof typeof channels>

afterEach(() => vi.restoreAllMocks())

describe('diagnostics channels', () => {
  it('are named socketserver:<subject>:<event>, each once', () => {
    const channelNames = names.map((name) => channels[name].name)
    for (const name of channelNames) expect(name).toMatch(/^socketserver:[a-z]+:[a-z]+$/)
    expect(new Set(channelNames).size).toBe(channelNames.length)
    expect(channelNames).toEqual(
      expect.arrayContaining([
        'socketserver:server:listening',
        'socketserver:server:error',
        'socketserver:server:close',
        'socketserver:request:start',
        'socketserver:request:end',
        'socketserver:request:error',
        'socketserver:request:dropped',
      ]),
    )
  })

  it('publish nothing when nobody subscribes', async () => {
    const spies = names.map((name) => vi.spyOn(channels[name], 'publish'))
    for (const name of names) expect(channels[name].hasSubscribers).toBe(false)
    await exercise()
    for (const spy of spies) expect(spy).not.toHaveBeenCalled()
  })

  it('publish start, end, error, dropped, listening and close to subscribers', async () => {
    const seen: Array<[string, any]> = []
    const subscribers = names.map((name) => {
      const fn = (message: unknown) => seen.push([name, message])
      diagnostics.subscribe(channels[name].name, fn)
      return () => diagnostics.unsubscribe(channels[name].name, fn)
    })
    try {
      const { server, ok } = await exercise()
      const of = (name: string) => seen.filter(([n]) => n === name).map(([, message]) => message)

      expect(of('serverListening')).toEqual([{ server, address: 'memory' }])
      expect(of('serverClose')).toEqual([{ server }])
      expect(of('requestStart').map((m) => m.clientAddress)).toEqual(['ok', 'bad'])
      expect(of('requestStart')[0].request).toBe(ok)
      const ends = of('requestEnd')
      expect(ends.map((m) => m.clientAddress)).toEqual(['ok', 'bad'])
      for (const end of ends) expect(end.durationMs).toBeGreaterThanOrEqual(0)
      expect(of('requestError')).toEqual([
        expect.objectContaining({
          clientAddress: 'bad',
          error: expect.objectContaining({ message: 'bad client' }),
        }),
      ])
      const dropped = of('requestDropped')
      expect(dropped.map((m) => m.clientAddress)).toEqual(['overflow', 'refused'])
      expect(dropped[0].reason).toBeInstanceOf(QueueFullError)
      expect(dropped[1].reason).toBe('verifyRequest')
      expect(of('serverError')).toEqual([])
    } finally {
      for (const unsubscribe of subscribers) unsubscribe()
    }
  })

  it('publish request:end for concurrent requests too', async () => {
    const ends: any[] = []
    const fn = (message: unknown) => ends.push(message)
    diagnostics.subscribe('socketserver:request:end', fn)
    try {
      const server = await EventLoopMemoryServer.create('memory', Echoish)
      server.receive('a')
      server.receive('b')
      await server.handleRequest()
      await server.handleRequest()
      await server.serverClose()
      expect(ends.map((m) => m.clientAddress).sort()).toEqual(['a', 'b'])
    } finally {
      diagnostics.unsubscribe('socketserver:request:end', fn)
    }
  })
})
