import { BaseRequestHandler } from '@socketserver/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { EventLoopMemoryServer, type MemoryRequest, MemoryServer } from './helpers/memory-server.js'
import { gate, settle, waitFor } from './helpers/wait.js'

type Handler = BaseRequestHandler<MemoryRequest, string, MemoryServer>

const servers: MemoryServer[] = []
async function make<T extends MemoryServer>(
  Server: new (...args: ConstructorParameters<typeof MemoryServer>) => T,
  Handler: new (request: MemoryRequest, clientAddress: string, server: any) => Handler,
  options: ConstructorParameters<typeof MemoryServer>[2] = {},
): Promise<T> {
  const server = await (Server as unknown as typeof MemoryServer).create('memory', Handler, options)
  servers.push(server)
  return server as T
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.blockOnClose = false
    await server.shutdown()
    await server.serverClose()
  }
  vi.restoreAllMocks()
})

class Noop extends BaseRequestHandler<MemoryRequest, string, MemoryServer> {}

describe('BaseServer construction and binding', () => {
  it('refuses a handler that is not a class', () => {
    expect(() => new MemoryServer('memory', 'nope' as never)).toThrow(
      expect.objectContaining({ code: 'SOCKSRV_INVALID_ARGUMENT' }),
    )
  })

  it('sets every given option as a field, keeping defaults for undefined ones', () => {
    const server = new MemoryServer('memory', Noop, {
      bindAndActivate: false,
      timeout: 50,
      blockOnClose: false,
      requestQueueSize: 64,
      maxQueuedRequests: undefined,
    })
    expect(server).toMatchObject({
      timeout: 50,
      blockOnClose: false,
      requestQueueSize: 64,
      maxQueuedRequests: 1024,
    })
    expect(server.allowReuseAddress).toBe(false)
    expect(server.allowReusePort).toBe(false)
  })

  it('binds after the constructor has returned, once; bindAndActivate false does not bind', async () => {
    const bound = new MemoryServer('memory', Noop)
    servers.push(bound)
    expect(bound.binds).toBe(0) // subclass fields are initialised before serverBind() runs
    await settle(1)
    expect(bound.binds).toBe(1)
    expect(bound.listening).toBe(true)
    const unbound = new MemoryServer('memory', Noop, { bindAndActivate: false })
    servers.push(unbound)
    await settle()
    expect(unbound.binds).toBe(0)
  })

  it('create() resolves bound and listening', async () => {
    const server = await make(MemoryServer, Noop)
    expect(server.binds).toBe(1)
    expect(server.listening).toBe(true)
    expect(server.closed).toBe(false)
  })

  it('create() rejects with the bind error after closing the server', async () => {
    const made: MemoryServer[] = []
    class Recorded extends MemoryServer {
      constructor(...args: ConstructorParameters<typeof MemoryServer>) {
        super(...args)
        made.push(this)
      }
    }
    await expect(Recorded.create('in-use', Noop)).rejects.toMatchObject({
      name: 'BindError',
      errno: 'EADDRINUSE',
    })
    expect(made[0]!.closed).toBe(true)
    expect(made[0]!.listening).toBe(false)
  })

  it('serveForever() rejects with the bind error of a server built with new', async () => {
    const server = new MemoryServer('in-use', Noop)
    await expect(server.serveForever()).rejects.toMatchObject({ code: 'SOCKSRV_BIND_FAILED' })
    expect(server.closed).toBe(true)
  })
})

describe('BaseServer request queue', () => {
  it('drops requests past maxQueuedRequests, closing them at once', async () => {
    const server = await make(MemoryServer, Noop, { maxQueuedRequests: 2 })
    const results = [server.receive(), server.receive(), server.receive()]
    expect(results.map((r) => r.queued)).toEqual([true, true, false])
    expect(server.queuedRequestCount).toBe(2)
    expect(results[2]!.request.releases).toEqual(['abort'])
    expect(results[0]!.request.isClosed).toBe(false)
  })

  it('serverClose() closes the requests still queued and refuses new ones', async () => {
    const server = await make(MemoryServer, Noop)
    const waiting = server.receive()
    await server.serverClose()
    expect(waiting.request.releases).toEqual(['abort'])
    expect(server.queuedRequestCount).toBe(0)
    const late = server.receive()
    expect(late.queued).toBe(false)
    expect(late.request.releases).toEqual(['abort'])
  })
})

describe('BaseServer hooks', () => {
  it('handleRequest() calls handleTimeout() when nothing arrives within timeout', async () => {
    const handleTimeout = vi.fn()
    class Timing extends MemoryServer {
      override handleTimeout = handleTimeout
    }
    const server = await make(Timing, Noop, { timeout: 5 })
    await server.handleRequest()
    expect(handleTimeout).toHaveBeenCalledTimes(1)
  })

  it('handleRequest() without timeout waits; serverClose() ends the wait without handleTimeout()', async () => {
    const handleTimeout = vi.fn()
    class Timing extends MemoryServer {
      override handleTimeout = handleTimeout
    }
    const server = await make(Timing, Noop)
    let done = false
    const handling = server.handleRequest().then(() => (done = true))
    await settle()
    expect(done).toBe(false)
    await server.serverClose()
    await handling
    expect(handleTimeout).not.toHaveBeenCalled()
  })

  it('an error thrown by verifyRequest goes to handleError and the request is shut down unhandled', async () => {
    const refused = new Error('no')
    const handled = vi.fn()
    class Handler extends Noop {
      override handle = handled
    }
    class Refusing extends MemoryServer {
      errors: unknown[] = []
      override verifyRequest(): boolean {
        throw refused
      }
      override handleError(_request: MemoryRequest, _clientAddress: string, error: unknown) {
        this.errors.push(error)
      }
    }
    const server = await make(Refusing, Handler)
    const { request } = server.receive()
    await server.handleRequest()
    expect(server.errors).toEqual([refused])
    expect(request.releases).toEqual(['shutdown'])
    expect(handled).not.toHaveBeenCalled()
  })

  it('prints a Python-style report by default, and survives a handleError that throws', async () => {
    const written: string[] = []
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk))
      return true
    })
    class Failing extends Noop {
      override handle(): void {
        throw new Error('handler broke')
      }
    }
    const server = await make(MemoryServer, Failing)
    server.receive('peer-1')
    await server.handleRequest()
    expect(written.join('')).toContain('Exception occurred during processing of request from "peer-1"')
    expect(written.join('')).toContain('handler broke')

    written.length = 0
    server.handleError = () => {
      throw new Error('handleError broke')
    }
    const { request } = server.receive()
    await server.handleRequest()
    expect(written.join('')).toContain('handleError() threw')
    expect(request.releases).toEqual(['shutdown'])
  })

  it('serverClose() while serving stops the loop', async () => {
    const server = await make(MemoryServer, Noop)
    const loop = server.serveForever({ pollInterval: 5 })
    await server.serverClose()
    await loop
    await expect(server.serveForever()).rejects.toMatchObject({ code: 'SOCKSRV_SERVER_CLOSED' })
  })

  it('shutdown() before the first bind has finished stops the loop without serving', async () => {
    const server = new MemoryServer('memory', Noop)
    servers.push(server)
    const loop = server.serveForever()
    await server.shutdown()
    await loop
    expect(server.binds).toBe(1)
  })
})

describe.each([
  ['one at a time', MemoryServer],
  ['event loop', EventLoopMemoryServer],
] as const)('shutdownGracefully (%s)', (_mode, Server) => {
  it('resolves with nothing aborted when handlers finish within the timeout', async () => {
    const release = gate()
    class Slow extends Noop {
      override async handle() {
        await release.promise
      }
    }
    const server = await make(Server, Slow)
    const loop = server.serveForever({ pollInterval: 5 })
    const { request } = server.receive()
    await waitFor(() => server.activeRequestCount === 1, 'the handler to start')
    const closing = server.shutdownGracefully({ timeout: 5000 })
    await settle()
    release.open()
    await expect(closing).resolves.toEqual({ aborted: 0 })
    await loop
    expect(request.releases).toEqual(['shutdown'])
    expect(server.closed).toBe(true)
  })

  it('cuts short a handler that outlives the timeout (it ends when its request is closed)', async () => {
    class Reader extends Noop {
      override async handle() {
        await this.request.closed // like a read that only ends when the socket is closed
      }
    }
    const server = await make(Server, Reader)
    const loop = server.serveForever({ pollInterval: 5 })
    const { request } = server.receive()
    await waitFor(() => server.activeRequestCount === 1, 'the handler to start')
    await expect(server.shutdownGracefully({ timeout: 10 })).resolves.toEqual({ aborted: 1 })
    await loop
    expect(request.releases[0]).toBe('abort')
    expect(server.activeRequestCount).toBe(0)
    expect(server.listening).toBe(false)
  })

  it('returns even when a handler never ends, reporting it aborted', async () => {
    class Stuck extends Noop {
      override handle() {
        return new Promise<void>(() => {})
      }
    }
    const server = await make(Server, Stuck)
    const loop = server.serveForever({ pollInterval: 5 })
    const { request } = server.receive()
    await waitFor(() => server.activeRequestCount === 1, 'the handler to start')
    await expect(server.shutdownGracefully({ timeout: 10 })).resolves.toEqual({ aborted: 1 })
    await loop
    expect(request.releases).toEqual(['abort'])
    expect(server.activeRequestCount).toBe(1) // still stuck: nothing can end it
    expect(server.closed).toBe(true)
    // serverClose() with blockOnClose would wait for it forever: keep it out of afterEach.
    servers.splice(servers.indexOf(server), 1)
  })
})
