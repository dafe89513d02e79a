/**
 * The scenarios of @socketserver/compliance-tests, for servers whose handlers run in child
 * processes. The shared suite defines its handlers as closures inside the test file and observes
 * them through shared variables; a child process imports its handler from a module and shares no
 * memory. So here the handlers live in fixtures/handlers.mjs, and what the shared suite reads from
 * variables is read where it can be across processes: from the replies (the handler's steps, a
 * `start` message), from parent-side hooks (processRequest, verifyRequest, handleError,
 * shutdownRequest) and from gates that are files. Each scenario names its counterpart.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type AnyServer,
  type ComplianceClient,
  canCountFileDescriptors,
  Harness,
  openFileDescriptorCount,
  receiveAll,
  receiveLine,
  type ServerComplianceSetup,
  settle,
  TEST_STR,
  waitFor,
} from '@socketserver/compliance-tests'
import type { ForkingServer } from '@socketserver/concurrency-fork'
import {
  type AddressFamily,
  BaseServer,
  type BaseServerOptions,
  type RequestHandlerClass,
  type SocketType,
} from '@socketserver/core'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { SuiteEcho, SuiteFlaky, SuiteGated, SuiteOrdered, SuiteStopper } from './fixtures/handlers.mjs'
import { expectNoChildren, handlerModule, isAlive } from './helpers.js'

/** The class under test as the scenarios subclass it. */
declare class ConcreteServer extends BaseServer<any, any, any> {
  readonly addressFamily: AddressFamily | undefined
  readonly socketType: SocketType
  serverBind(): void
  serverActivate(): void
  protected closeListener(): void
  closeRequest(request: unknown): void
}
type ForkServer = ConcreteServer & ForkingServer
type Creatable = { create(address: unknown, Handler: unknown, options?: object): Promise<AnyServer> }

export interface ForkComplianceSetup extends ServerComplianceSetup<any> {
  /** Options for every server (forkMode, processes). */
  options: Record<string, unknown>
}

export function forkComplianceTests(setup: ForkComplianceSetup): void {
  const Server = setup.Server as unknown as abstract new (...args: any[]) => ForkServer
  const stream = setup.socketType === 'stream'
  const timeout = setup.testTimeout ?? 20_000
  const gates: string[] = []
  let gateDir: string | undefined
  let gateCount = 0
  const gate = () => {
    gateDir ??= mkdtempSync(join(tmpdir(), 'ssfork-gates-'))
    const path = join(gateDir, `gate-${++gateCount}`)
    gates.push(path)
    return { path, open: () => writeFileSync(path, '') }
  }

  async function examine(client: ComplianceClient, message = TEST_STR): Promise<void> {
    await client.send(message)
    expect((await receiveLine(client)).toString()).toBe(message)
  }

  describe(setup.name ?? setup.Server.name, () => {
    const h = new Harness(setup)
    const create = <T extends AnyServer = ForkServer>(
      Handler: unknown,
      options: BaseServerOptions & Record<string, unknown> = {},
      S: unknown = Server,
    ) =>
      h.create<T>(
        Handler as RequestHandlerClass,
        { handlerModule, ...setup.options, ...options } as BaseServerOptions,
        S as never,
      )

    afterEach(async () => {
      // Open every gate first: a child waiting on one would otherwise outlive the test.
      for (const path of gates.splice(0)) if (!existsSync(path)) writeFileSync(path, '')
      await h.cleanup()
      await expectNoChildren()
    })
    afterAll(() => {
      if (gateDir) rmSync(gateDir, { recursive: true, force: true })
    })

    describe('lifecycle', () => {
      // run_server + stream_examine/dgram_examine (test_ForkingTCPServer, test_ForkingUDPServer, ...)
      it(
        'echoes for several clients in turn, then shuts down and closes, leaving no child',
        async () => {
          const server = await create(SuiteEcho)
          if (setup.socketAddress) expect(server.serverAddress).toEqual(setup.socketAddress(server))
          expect(setup.isListening(server)).toBe(true)
          const loop = h.serve(server)
          for (let i = 0; i < 3; i++) {
            const client = await h.connect(server)
            await examine(client)
            await client.close()
          }
          await server.shutdown()
          await loop
          const children = [...server.activeChildren]
          await server.serverClose()
          expect(server.closed).toBe(true)
          expect(setup.isListening(server)).toBe(false)
          expect(server.activeRequestCount).toBe(0)
          // bpo-31151: `assertFalse(server.active_children)` after server_close().
          expect(server.activeChildren.size).toBe(0)
          for (const pid of children) expect(isAlive(pid)).toBe(false)
        },
        timeout,
      )

      // test_shutdown (Issue #2302)
      it(
        'stops serveForever on 20 servers at once',
        async () => {
          const servers = await Promise.all(
            Array.from({ length: 20 }, () => create(SuiteEcho, { processes: 1 })),
          )
          const loops = servers.map((server) => h.serve(server))
          for (const server of servers) await server.shutdown()
          await Promise.all(loops)
          await Promise.all(servers.map((server) => server.serverClose()))
          for (const server of servers) expect(setup.isListening(server)).toBe(false)
        },
        timeout * 2,
      )

      // test_close_immediately
      it(
        'closes a server that never served',
        async () => {
          const server = await create(SuiteEcho)
          await server.serverClose()
          expect(server.closed).toBe(true)
          expect(setup.isListening(server)).toBe(false)
          expect(server.activeChildren.size).toBe(0)
        },
        timeout,
      )

      // test_tcpserver_bind_leak (Issue #22435); fewer iterations: each failure is a whole server.
      it.skipIf(!canCountFileDescriptors)(
        'leaks no file descriptor over 100 failed binds',
        async () => {
          const holder = await create(SuiteEcho)
          const address = setup.addressInUse(holder)
          const options = { handlerModule, ...setup.options }
          const tryBind = () => (Server as unknown as Creatable).create(address, SuiteEcho, options)
          await expect(tryBind()).rejects.toMatchObject({ code: 'SOCKSRV_BIND_FAILED' })
          const before = openFileDescriptorCount()
          let failures = 0
          for (let i = 0; i < 100; i++) {
            try {
              h.track(await tryBind())
            } catch (error) {
              if ((error as { code?: string }).code === 'SOCKSRV_BIND_FAILED') failures++
            }
          }
          expect(failures).toBe(100)
          expect(openFileDescriptorCount() - before).toBeLessThan(5)
        },
        timeout,
      )

      it.skipIf(!setup.invalidAddresses?.length)(
        'refuses an invalid address with InvalidArgumentError',
        async () => {
          for (const address of setup.invalidAddresses ?? []) {
            await expect(
              (Server as unknown as Creatable).create(address, SuiteEcho, {
                handlerModule,
                ...setup.options,
              }),
            ).rejects.toMatchObject({ code: 'SOCKSRV_INVALID_ARGUMENT' })
          }
        },
        timeout,
      )

      // test_context_manager
      it(
        'closes the server at the end of an `await using` block, stopping its loop',
        async () => {
          let kept: ForkServer | undefined
          let loop: Promise<void> | undefined
          {
            await using server = await create(SuiteEcho)
            kept = server
            loop = h.serve(server)
            await examine(await h.connect(server))
          }
          await loop
          expect(kept.closed).toBe(true)
          expect(setup.isListening(kept)).toBe(false)
          expect(kept.activeChildren.size).toBe(0)
        },
        timeout,
      )

      // Issue #22435 and server_close() twice
      it(
        'makes serverClose idempotent',
        async () => {
          const server = await create(SuiteEcho)
          await Promise.all([server.serverClose(), server.serverClose()])
          await server.serverClose()
          expect(setup.isListening(server)).toBe(false)
          await expect(server.serveForever()).rejects.toMatchObject({ code: 'SOCKSRV_SERVER_CLOSED' })
        },
        timeout,
      )

      it(
        'resolves shutdown when not serving, and serves again after a shutdown',
        async () => {
          const server = await create(SuiteEcho)
          await server.shutdown()
          const loop = h.serve(server)
          await examine(await h.connect(server))
          await Promise.all([server.shutdown(), server.shutdown()])
          await loop
          const again = h.serve(server)
          await examine(await h.connect(server))
          await server.shutdown()
          await again
        },
        timeout,
      )

      it(
        'refuses a second serve loop while serving, and any after serverClose',
        async () => {
          const server = await create(SuiteEcho)
          const loop = h.serve(server)
          await expect(server.serveForever()).rejects.toMatchObject({ code: 'SOCKSRV_ALREADY_SERVING' })
          await examine(await h.connect(server))
          await server.shutdown()
          await loop
          await server.serverClose()
          await expect(server.handleRequest()).rejects.toMatchObject({ code: 'SOCKSRV_SERVER_CLOSED' })
        },
        timeout,
      )

      // BaseServer.shutdown() docstring; here the handler is in a child and asks the parent.
      it(
        'lets a handler in a child call this.server.shutdown() without deadlock',
        async () => {
          const server = await create(SuiteStopper)
          const loop = h.serve(server)
          await examine(await h.connect(server))
          await loop
          await server.serverClose()
          expect(server.activeRequestCount).toBe(0)
        },
        timeout,
      )

      it(
        'handles no request after shutdown; serverClose drops the waiting ones',
        async () => {
          let processed = 0
          class Counting extends (Server as unknown as new (...args: any[]) => ForkServer) {
            override processRequest(request: unknown, clientAddress: unknown) {
              processed++
              return super.processRequest(request, clientAddress)
            }
          }
          const server = await create(SuiteEcho, {}, Counting)
          const loop = h.serve(server)
          await examine(await h.connect(server))
          await server.shutdown()
          await loop
          const late = await h.connect(server)
          await late.send(TEST_STR)
          await waitFor(() => server.queuedRequestCount === 1, { what: 'the late request to be queued' })
          await settle()
          expect(processed).toBe(1)
          await server.serverClose()
          expect(server.queuedRequestCount).toBe(0)
          expect(processed).toBe(1)
          if (stream) {
            expect((await receiveAll(late)).length).toBe(0)
            await expect(setup.connect(server)).rejects.toThrow()
          }
        },
        timeout,
      )

      it(
        'handleRequest handles exactly one request, or calls handleTimeout after timeout',
        async () => {
          class Timing extends (Server as unknown as new (...args: any[]) => ForkServer) {
            timeouts = 0
            processed = 0
            override handleTimeout() {
              this.timeouts++
              return super.handleTimeout()
            }
            override processRequest(request: unknown, clientAddress: unknown) {
              this.processed++
              return super.processRequest(request, clientAddress)
            }
          }
          const server = await create<Timing>(SuiteEcho, { timeout: 20 }, Timing)
          await server.handleRequest()
          expect(server.timeouts).toBe(1)
          expect(server.processed).toBe(0)
          const first = await h.connect(server)
          const second = await h.connect(server)
          await first.send(TEST_STR)
          await second.send(TEST_STR)
          await waitFor(() => server.queuedRequestCount === 2, { what: 'two queued requests' })
          await server.handleRequest()
          expect((await receiveLine(first)).toString()).toBe(TEST_STR)
          expect(server.processed).toBe(1)
          expect(server.queuedRequestCount).toBe(1)
          await server.handleRequest()
          expect((await receiveLine(second)).toString()).toBe(TEST_STR)
          expect(server.processed).toBe(2)
          expect(server.timeouts).toBe(1)
        },
        timeout,
      )

      it(
        'calls serviceActions once per loop turn, and when idle',
        async () => {
          class Acting extends (Server as unknown as new (...args: any[]) => ForkServer) {
            turns = 0
            override serviceActions() {
              this.turns++
              return super.serviceActions()
            }
          }
          const idle = await create<Acting>(SuiteEcho, {}, Acting)
          const idleLoop = h.serve(idle, 5)
          await waitFor(() => idle.turns >= 3, { what: 'serviceActions while idle' })
          await idle.shutdown()
          await idleLoop
          const busy = await create<Acting>(SuiteEcho, {}, Acting)
          const busyLoop = h.serve(busy, 600_000)
          for (let i = 1; i <= 3; i++) {
            await examine(await h.connect(busy))
            await waitFor(() => busy.turns >= i, { what: `serviceActions after request ${i}` })
          }
          await busy.shutdown()
          await busyLoop
          expect(busy.turns).toBe(3)
        },
        timeout,
      )
    })

    describe('handlers and hooks', () => {
      // Issue #26309
      it(
        'calls shutdownRequest, and starts no handler, when verifyRequest returns false',
        async () => {
          class Refusing extends (Server as unknown as new (...args: any[]) => ForkServer) {
            shutdownCalled = 0
            processed = 0
            override verifyRequest() {
              return false
            }
            override shutdownRequest(request: unknown) {
              this.shutdownCalled++
              super.shutdownRequest(request)
            }
            override processRequest(request: unknown, clientAddress: unknown) {
              this.processed++
              return super.processRequest(request, clientAddress)
            }
          }
          const server = await create<Refusing>(SuiteEcho, {}, Refusing)
          const client = await h.connect(server)
          if (!stream) await client.send(TEST_STR)
          await server.handleRequest()
          expect(server.shutdownCalled).toBe(1)
          expect(server.processed).toBe(0)
          if (stream) expect((await receiveAll(client)).length).toBe(0)
        },
        timeout,
      )

      // ErrorHandlerTest.test_forking_handled: the child's error reaches the parent's handle_error.
      it(
        'passes an error thrown in the child to handleError in the parent, and keeps serving',
        async () => {
          class Quiet extends (Server as unknown as new (...args: any[]) => ForkServer) {
            errors: Array<{ request: unknown; clientAddress: unknown; error: unknown }> = []
            requests: unknown[] = []
            override processRequest(request: unknown, clientAddress: unknown) {
              this.requests.push(request)
              return super.processRequest(request, clientAddress)
            }
            override handleError(request: unknown, clientAddress: unknown, error: unknown) {
              this.errors.push({ request, clientAddress, error })
            }
          }
          const server = await create<Quiet>(SuiteFlaky, {}, Quiet)
          const loop = h.serve(server)
          const failing = await h.connect(server)
          await failing.send('boom\n')
          await waitFor(() => server.errors.length === 1, { what: 'handleError' })
          if (stream) expect((await receiveAll(failing)).length).toBe(0)
          const [{ request, clientAddress, error }] = server.errors as [(typeof server.errors)[0]]
          expect(request).toBe(server.requests[0])
          expect(clientAddress).toBeDefined()
          expect(error).toMatchObject({
            code: 'SOCKSRV_REMOTE_HANDLER_ERROR',
            message: 'boom',
            remoteName: 'Error',
          })
          expect((error as Error).stack).toContain('handlers.mjs')
          for (let i = 0; i < 2; i++) await examine(await h.connect(server))
          await server.shutdown()
          await loop
        },
        timeout,
      )

      // BaseRequestHandler.__init__: the steps as the child ran them, reported in the reply.
      it(
        'runs setup, handle and finish in order in the child, and finish even when handle throws',
        async () => {
          class Quiet extends (Server as unknown as new (...args: any[]) => ForkServer) {
            errors: unknown[] = []
            override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
              this.errors.push(error)
            }
          }
          const server = await create<Quiet>(SuiteOrdered, {}, Quiet)
          const loop = h.serve(server)
          const fine = await h.connect(server)
          await fine.send('fine\n')
          expect((await receiveLine(fine)).toString()).toBe('setup,handle fine,finish\n')
          const failing = await h.connect(server)
          await failing.send('boom\n')
          expect((await receiveLine(failing)).toString()).toBe('setup,handle boom,finish\n')
          await waitFor(() => server.errors.length === 1, { what: 'handleError' })
          expect((server.errors[0] as Error).message).toBe('boom')
          await server.shutdown()
          await loop
        },
        timeout,
      )

      // bpo-31151 / bpo-37193
      it(
        'serverClose waits for in-flight handlers (blockOnClose, the default), then no child is left',
        async () => {
          const g = gate()
          const server = await create(SuiteGated)
          expect(server.blockOnClose).toBe(true)
          const loop = h.serve(server)
          const client = await h.connect(server)
          await client.send(`slow ${g.path}\n`)
          expect((await receiveLine(client)).toString()).toBe('start slow\n')
          await server.shutdown()
          await loop
          let closed = false
          const closing = server.serverClose().then(() => (closed = true))
          await settle(50)
          expect(closed).toBe(false)
          expect(server.activeRequestCount).toBe(1)
          if (stream) expect(setup.isListening(server)).toBe(false)
          g.open()
          expect((await receiveLine(client)).toString()).toBe(`slow ${g.path}\n`)
          await closing
          expect(server.activeRequestCount).toBe(0)
          expect(server.activeChildren.size).toBe(0)
        },
        timeout,
      )

      // bpo-37193
      it(
        'serverClose does not wait for handlers with blockOnClose false',
        async () => {
          const g = gate()
          const server = await create(SuiteGated, { blockOnClose: false })
          const loop = h.serve(server)
          const client = await h.connect(server)
          await client.send(`slow ${g.path}\n`)
          expect((await receiveLine(client)).toString()).toBe('start slow\n')
          await server.shutdown()
          await loop
          await server.serverClose()
          expect(server.activeRequestCount).toBe(1)
          g.open()
          if (stream) expect((await receiveLine(client)).toString()).toBe(`slow ${g.path}\n`)
          await waitFor(() => server.activeRequestCount === 0, { what: 'the handler to end' })
        },
        timeout,
      )

      // test_threads_reaped (bpo-37193)
      it(
        'keeps no finished request (requests reaped)',
        async () => {
          const server = await create(SuiteEcho)
          for (let i = 0; i < 10; i++) {
            const client = await h.connect(server)
            await client.send(TEST_STR)
            await server.handleRequest()
            expect((await receiveLine(client)).toString()).toBe(TEST_STR)
            await client.close()
          }
          await waitFor(() => server.activeRequestCount === 0, { what: 'every request to be released' })
        },
        timeout,
      )
    })

    describe('concurrent requests', () => {
      // ThreadingMixIn / ForkingMixIn: a slow handler does not hold up another client.
      it(
        'lets another client be served while a handler is still running',
        async () => {
          const g = gate()
          const server = await create(SuiteGated)
          const loop = h.serve(server)
          const slow = await h.connect(server)
          await slow.send(`slow ${g.path}\n`)
          expect((await receiveLine(slow)).toString()).toBe('start slow\n')
          for (let i = 0; i < 3; i++) await examine(await h.connect(server), `fast${i}\n`)
          await waitFor(() => server.activeRequestCount === 1, { what: 'the fast requests to end' })
          g.open()
          expect((await receiveLine(slow)).toString()).toBe(`slow ${g.path}\n`)
          await server.shutdown()
          await loop
        },
        timeout,
      )
    })
  })
}
