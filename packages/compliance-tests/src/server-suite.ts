import {
  type AddressFamily,
  BaseRequestHandler,
  type BaseServer,
  InvalidArgumentError,
  type RequestHandlerClass,
  type SocketType,
} from '@socketserver/core'
import type { Transport } from '@socketserver/core/transport'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { receiveAll, receiveLine } from './client.js'
import * as remoteHandlers from './handlers.js'
import { defineSuiteHandlers, type SuiteHandlerClass, type SuiteHandlers } from './handlers.js'
import { Harness } from './harness.js'
import { COMPLIANCE_REPORT_ENV, Recorder, ReportServer } from './report.js'
import type { AnyServer, ComplianceClient, ServerClass, ServerComplianceSetup } from './types.js'
import { canCountFileDescriptors, type Gate, openFileDescriptorCount, settle, waitFor } from './util.js'

/** What Python's tests send: `TEST_STR = b"hello world\n"`. */
export const TEST_STR = 'hello world\n'

type Creatable = { create(address: unknown, Handler: unknown, options?: object): Promise<AnyServer> }
/** The class under test as the suite subclasses it (Python's tests override hooks the same way). */
declare class ConcreteServer extends BaseServer<any, any, any> {
  readonly addressFamily: AddressFamily | undefined
  readonly socketType: SocketType
  serverBind(): void
  serverActivate(): void
  protected closeListener(): void
  protected readonly transport: Transport
  closeRequest(request: unknown): void
}

/**
 * The built handlers module: next to this file in dist/, or in dist/ when the suite runs from its
 * sources (vitest aliases the package to src/; workers and children run plain JavaScript).
 */
function builtHandlerModule(): string {
  const here = import.meta.url
  return new URL(here.endsWith('.ts') ? '../dist/handlers.js' : './handlers.js', here).href
}

/**
 * Registers, with vitest's `describe`/`it`, the lifecycle and handler scenarios of CPython's
 * `Lib/test/test_socketserver.py` (and the contract in ARCHITECTURE.md) for one server class.
 * Call it at the top level of a test file, once per class and address family.
 */
export function serverComplianceTests<S extends AnyServer>(userSetup: ServerComplianceSetup<S>): void {
  const setup = userSetup as unknown as ServerComplianceSetup<AnyServer>
  const { remote } = setup
  const Server = setup.Server as unknown as typeof ConcreteServer
  const stream = setup.socketType === 'stream'
  const timeout = setup.testTimeout ?? 20_000
  const leakIterations = setup.bindLeakIterations ?? 1000
  if (!remote && !setup.io)
    throw new InvalidArgumentError('serverComplianceTests: setup.io is required unless setup.remote is set')

  // What the handlers of the running test did (tests in a describe block run one at a time).
  const rec = new Recorder()
  const handlers: SuiteHandlers = remote
    ? remoteHandlers // the exported ones: the suite hands their module and export name to the server
    : defineSuiteHandlers((setup.HandlerBase ?? BaseRequestHandler) as SuiteHandlerClass, {
        io: setup.io!,
        report: (event) => {
          rec.events.push(event)
        },
        gate: () => rec.waitGate(),
      })

  /** The options a server of this suite is created with: in remote mode, where its handler lives. */
  function serverOptions(Handler: SuiteHandlerClass, options: object = {}): object {
    if (!remote) return options
    const extra = typeof remote.options === 'function' ? remote.options() : remote.options
    const handlerModule = remote.handlerModule ?? builtHandlerModule()
    return { handlerModule, handlerExport: Handler.name, ...extra, ...options }
  }

  /** Python's `stream_examine`/`dgram_examine`: one echo round trip. */
  async function examine(client: ComplianceClient, message = TEST_STR): Promise<void> {
    await client.send(message)
    expect((await receiveLine(client)).toString()).toBe(message)
  }

  describe(setup.name ?? `${setup.Server.name} compliance`, () => {
    const h = new Harness(setup)
    const create = <T extends AnyServer = AnyServer>(
      Handler: SuiteHandlerClass,
      options?: object,
      S?: ServerClass<T>,
    ): Promise<T> => h.create<T>(Handler, serverOptions(Handler, options), S)
    /** The gate this test's handlers wait on. */
    const gate = (): Gate => {
      const opened = h.gate()
      rec.gate = opened.promise
      return opened
    }

    if (remote) {
      // Every test gets a new token in the environment its servers' workers inherit.
      let report: ReportServer | undefined
      const previous = process.env[COMPLIANCE_REPORT_ENV]
      beforeAll(async () => {
        report = await ReportServer.listen()
      })
      beforeEach(() => {
        process.env[COMPLIANCE_REPORT_ENV] = report!.begin(rec)
      })
      afterAll(async () => {
        await report?.close()
        if (previous === undefined) delete process.env[COMPLIANCE_REPORT_ENV]
        else process.env[COMPLIANCE_REPORT_ENV] = previous
      })
    }
    afterEach(async () => {
      await h.cleanup()
      rec.reset()
    })

    describe('lifecycle', () => {
      // test_TCPServer, test_ThreadingTCPServer, test_UDPServer, ... (run_server with stream_examine
      // or dgram_examine): three clients in turn, shutdown(), join, server_close(), and
      // make_server's `server.server_address == server.socket.getsockname()`.
      it(
        'echoes for several clients in turn, then shuts down and closes',
        async () => {
          const server = await create(handlers.EchoHandler)
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
          await server.serverClose()
          expect(server.closed).toBe(true)
          expect(setup.isListening(server)).toBe(false)
          // bpo-31151: server_close() waits for every request (`assertFalse(server.active_children)`).
          expect(server.activeRequestCount).toBe(0)
        },
        timeout,
      )

      // test_shutdown (Issue #2302): shutdown() always makes serve_forever() return, for 20 servers.
      it(
        'stops serveForever on 20 servers at once',
        async () => {
          const servers = await Promise.all(Array.from({ length: 20 }, () => create(handlers.EchoHandler)))
          const loops = servers.map((server) => h.serve(server))
          for (const server of servers) await server.shutdown()
          await Promise.all(loops)
          await Promise.all(servers.map((server) => server.serverClose()))
          for (const server of servers) expect(setup.isListening(server)).toBe(false)
        },
        timeout,
      )

      // test_close_immediately: server_close() on a server that never served.
      it(
        'closes a server that never served',
        async () => {
          const server = await create(handlers.EchoHandler)
          await server.serverClose()
          expect(server.closed).toBe(true)
          expect(setup.isListening(server)).toBe(false)
        },
        timeout,
      )

      // test_tcpserver_bind_leak (Issue #22435): the socket must be closed when bind()/listen() fail;
      // 1024 failed constructions must not exhaust descriptors. Here the bind fails for real
      // (EADDRINUSE), and /proc/self/fd is counted before and after.
      it.skipIf(!canCountFileDescriptors)(
        `leaks no file descriptor over ${leakIterations} failed binds`,
        async () => {
          const holder = await create(handlers.EchoHandler)
          const address = setup.addressInUse(holder)
          const options = serverOptions(handlers.EchoHandler)
          const tryBind = () =>
            (Server as unknown as Creatable).create(address, handlers.EchoHandler, options)
          // The first failure may open what the process keeps for good (e.g. the resolver).
          await expect(tryBind()).rejects.toMatchObject({ code: 'SOCKSRV_BIND_FAILED' })
          const before = openFileDescriptorCount()
          let failures = 0
          for (let i = 0; i < leakIterations; i++) {
            try {
              h.track(await tryBind())
            } catch (error) {
              if ((error as { code?: string }).code === 'SOCKSRV_BIND_FAILED') failures++
            }
          }
          const after = openFileDescriptorCount()
          expect(failures).toBe(leakIterations)
          // One descriptor per failure would show as `leakIterations`; allow a little unrelated noise.
          expect(after - before).toBeLessThan(Math.max(5, leakIterations / 100))
        },
        timeout * 3,
      )

      // test_tcpserver_bind_leak's OverflowError for port -1: a bad address is refused up front.
      it.skipIf(!setup.invalidAddresses?.length)(
        'refuses an invalid address with InvalidArgumentError',
        async () => {
          for (const address of setup.invalidAddresses ?? []) {
            await expect(
              (Server as unknown as Creatable).create(
                address,
                handlers.EchoHandler,
                serverOptions(handlers.EchoHandler),
              ),
              `address ${JSON.stringify(address)}`,
            ).rejects.toMatchObject({ name: 'InvalidArgumentError', code: 'SOCKSRV_INVALID_ARGUMENT' })
          }
        },
        timeout,
      )

      // test_context_manager: `with TCPServer(...) as server: pass` closes the socket.
      it(
        'closes the server at the end of an `await using` block, stopping its loop',
        async () => {
          let kept: AnyServer | undefined
          let loop: Promise<void> | undefined
          {
            await using server = await create(handlers.EchoHandler)
            kept = server
            loop = h.serve(server)
            await examine(await h.connect(server))
          }
          await loop
          expect(kept.closed).toBe(true)
          expect(setup.isListening(kept)).toBe(false)
        },
        timeout,
      )

      // Issue #22435 (TCPServer.__init__ calls server_close() when binding fails), and
      // server_close() being safe to call again, as test_context_manager's __exit__ after a close.
      it(
        'makes serverClose idempotent, also after a failed bind',
        async () => {
          const server = await create(handlers.EchoHandler)
          await Promise.all([server.serverClose(), server.serverClose()])
          await server.serverClose()
          expect(setup.isListening(server)).toBe(false)

          const made: AnyServer[] = []
          class Recorded extends Server {
            constructor(address: any, Handler: RequestHandlerClass<any, any, any>, options?: object) {
              super(address, Handler, options)
              made.push(this)
            }
          }
          const holder = await create(handlers.EchoHandler)
          await expect(
            (Recorded as unknown as Creatable).create(
              setup.addressInUse(holder),
              handlers.EchoHandler,
              serverOptions(handlers.EchoHandler),
            ),
          ).rejects.toMatchObject({ name: 'BindError', code: 'SOCKSRV_BIND_FAILED' })
          expect(made).toHaveLength(1)
          const failed = h.track(made[0]!)
          expect(failed.closed).toBe(true)
          await failed.serverClose()
          await failed.serverClose()
          expect(setup.isListening(failed)).toBe(false)
          await expect(failed.serveForever()).rejects.toMatchObject({ code: 'SOCKSRV_SERVER_CLOSED' })
        },
        timeout,
      )

      // BaseServer.shutdown() ("Stops the serve_forever loop"): here it also resolves when nothing is
      // serving, and serve_forever() may be called again afterwards, as in Python.
      it(
        'resolves shutdown when not serving, and serves again after a shutdown',
        async () => {
          const server = await create(handlers.EchoHandler)
          await server.shutdown()
          const loop = h.serve(server)
          await examine(await h.connect(server))
          await Promise.all([server.shutdown(), server.shutdown()])
          await loop
          await server.shutdown()
          const again = h.serve(server)
          await examine(await h.connect(server))
          await server.shutdown()
          await again
        },
        timeout,
      )

      // The contract's guard against two loops on one server (Python would interleave two threads).
      it(
        'refuses a second serve loop while serving, and any after serverClose',
        async () => {
          const server = await create(handlers.EchoHandler)
          const loop = h.serve(server)
          await expect(server.serveForever()).rejects.toMatchObject({ code: 'SOCKSRV_ALREADY_SERVING' })
          await expect(server.handleRequest()).rejects.toMatchObject({ code: 'SOCKSRV_ALREADY_SERVING' })
          await examine(await h.connect(server))
          await server.shutdown()
          await loop
          await server.serverClose()
          await expect(server.serveForever()).rejects.toMatchObject({ code: 'SOCKSRV_SERVER_CLOSED' })
          await expect(server.handleRequest()).rejects.toMatchObject({ code: 'SOCKSRV_SERVER_CLOSED' })
        },
        timeout,
      )

      // BaseServer.shutdown() docstring: Python deadlocks when shutdown() is called from the thread
      // running serve_forever(); the contract makes it safe from inside a handler.
      it(
        'lets a handler call shutdown without deadlock',
        async () => {
          const server = await create(handlers.StopperHandler)
          const loop = h.serve(server)
          await examine(await h.connect(server))
          await loop
          await server.serverClose()
          expect(server.activeRequestCount).toBe(0)
        },
        timeout,
      )

      // serve_forever() checks `__shutdown_request` before taking a request: once shut down, a new
      // request waits (as in the listen backlog) and server_close() drops it unhandled.
      it(
        'handles no request after shutdown; serverClose drops the waiting ones',
        async () => {
          const handled = () => rec.events.filter((event) => event === 'handle').length
          const server = await create(handlers.CountingHandler)
          const loop = h.serve(server)
          await examine(await h.connect(server))
          await server.shutdown()
          await loop
          const late = await h.connect(server)
          await late.send(TEST_STR)
          await waitFor(() => server.queuedRequestCount === 1, { what: 'the late request to be queued' })
          await settle()
          expect(handled()).toBe(1)
          await server.serverClose()
          expect(server.queuedRequestCount).toBe(0)
          expect(handled()).toBe(1)
          if (stream) {
            expect((await receiveAll(late)).length).toBe(0)
            await expect(setup.connect(server), 'connecting after serverClose').rejects.toThrow()
          }
        },
        timeout,
      )

      // BaseServer.handle_request(): "Handle one request, possibly blocking"; with `timeout` set and
      // no request, handle_timeout() is called (socketserver.py; no CPython test covers it).
      it(
        'handleRequest handles exactly one request, or calls handleTimeout after timeout',
        async () => {
          const handled = () => rec.events.filter((event) => event === 'handle').length
          class Timing extends Server {
            timeouts = 0
            override handleTimeout() {
              this.timeouts++
            }
          }
          const server = await create(handlers.CountingHandler, { timeout: 20 }, Timing)
          await server.handleRequest()
          expect(server.timeouts).toBe(1)
          expect(handled()).toBe(0)

          const first = await h.connect(server)
          const second = await h.connect(server)
          await first.send(TEST_STR)
          await second.send(TEST_STR)
          await waitFor(() => server.queuedRequestCount === 2, { what: 'two queued requests' })
          await server.handleRequest()
          expect((await receiveLine(first)).toString()).toBe(TEST_STR)
          await settle()
          expect(handled()).toBe(1)
          expect(server.queuedRequestCount).toBe(1)
          await server.handleRequest()
          expect((await receiveLine(second)).toString()).toBe(TEST_STR)
          expect(handled()).toBe(2)
          expect(server.timeouts).toBe(1)
        },
        timeout,
      )

      // service_actions() (bpo-11109): called by serve_forever() once per turn of its loop, also
      // when it wakes after poll_interval with no request.
      it(
        'calls serviceActions once per loop turn, and when idle',
        async () => {
          class Acting extends Server {
            turns = 0
            override serviceActions() {
              this.turns++
            }
          }
          const idle = await create(handlers.EchoHandler, {}, Acting)
          const idleLoop = h.serve(idle, 5)
          await waitFor(() => idle.turns >= 3, { what: 'serviceActions while idle' })
          await idle.shutdown()
          await idleLoop

          // With a poll interval far longer than the test, the loop turns only for requests.
          const busy = await create(handlers.EchoHandler, {}, Acting)
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
      // test_shutdown_request_called_if_verify_request_false (Issue #26309).
      it(
        'calls shutdownRequest, not the handler, when verifyRequest returns false',
        async () => {
          const constructed = () => rec.events.filter((event) => event === 'construct').length
          class Refusing extends Server {
            shutdownCalled = 0
            verified: unknown[] = []
            refuse = true
            override verifyRequest(_request: unknown, clientAddress: unknown) {
              this.verified.push(clientAddress)
              return !this.refuse
            }
            override shutdownRequest(request: unknown) {
              this.shutdownCalled++
              super.shutdownRequest(request)
            }
          }
          const server = await create(handlers.ConstructedHandler, {}, Refusing)
          const client = await h.connect(server)
          // Python connects and closes; a datagram server sees a request only when a packet arrives.
          if (!stream) await client.send(TEST_STR)
          await server.handleRequest()
          expect(server.shutdownCalled).toBe(1)
          expect(server.verified).toHaveLength(1)
          expect(constructed()).toBe(0)
          if (stream) expect((await receiveAll(client)).length).toBe(0)
          // The next request is let in: its reply is the first this client gets, and its handler is
          // the only one made (a handler reports its construction before it replies).
          server.refuse = false
          const accepted = stream ? await h.connect(server) : client
          await accepted.send('accepted\n')
          await server.handleRequest()
          expect((await receiveLine(accepted)).toString()).toBe('accepted\n')
          expect(constructed()).toBe(1)
        },
        timeout,
      )

      // ErrorHandlerTest.test_sync_handled / test_threading_handled: an exception from the handler is
      // passed to handle_error(), and the request is then shut down ("Handler called\nError handled\n").
      it(
        'passes an error thrown by the handler to handleError, then shuts the request down',
        async () => {
          const log = rec.events
          let done!: () => void
          const requestDone = new Promise<void>((resolve) => (done = resolve))
          class ErrorTestServer extends Server {
            errors: Array<{ request: unknown; clientAddress: unknown; error: unknown }> = []
            requests: unknown[] = []
            override processRequest(request: unknown, clientAddress: unknown) {
              this.requests.push(request)
              return super.processRequest(request, clientAddress)
            }
            override handleError(request: unknown, clientAddress: unknown, error: unknown) {
              log.push('Error handled')
              this.errors.push({ request, clientAddress, error })
            }
            override shutdownRequest(request: unknown) {
              super.shutdownRequest(request)
              log.push('Request shut down')
              done()
            }
          }
          const server = await create(handlers.BadHandler, {}, ErrorTestServer)
          const client = await h.connect(server)
          await client.send(TEST_STR)
          await server.handleRequest()
          if (remote) {
            // ForkingMixIn's child shuts its request down itself (as Python's child calls
            // shutdown_request), where the server's override does not run: the client sees it.
            await waitFor(() => log.includes('Error handled'), { what: 'handleError' })
            if (stream) expect((await receiveAll(client)).length).toBe(0)
            expect(log.slice(0, 2)).toEqual(['Handler called', 'Error handled'])
            expect(log.slice(2)).toEqual(log.length > 2 ? ['Request shut down'] : [])
          } else {
            await requestDone // ThreadingErrorTestServer.wait_done()
            expect(log).toEqual(['Handler called', 'Error handled', 'Request shut down'])
          }
          expect(server.errors).toHaveLength(1)
          const [{ request, clientAddress, error }] = server.errors as [(typeof server.errors)[0]]
          expect(error).toBeInstanceOf(Error)
          expect((error as Error).message).toBe('Test error')
          // From a worker or child, the error is rebuilt in the server's process with its code.
          if (remote) expect(error).toMatchObject({ code: 'SOCKSRV_REMOTE_HANDLER_ERROR' })
          expect(request).toBe(server.requests[0])
          expect(clientAddress).toBeDefined()
        },
        timeout,
      )

      // BaseServer.handle_error(): "The default is to print a traceback and continue" serving.
      it(
        'keeps serving after a handler throws',
        async () => {
          class Quiet extends Server {
            errors: unknown[] = []
            override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
              this.errors.push(error)
            }
          }
          const server = await create(handlers.FlakyHandler, {}, Quiet)
          const loop = h.serve(server)
          const failing = await h.connect(server)
          await failing.send('boom\n')
          await waitFor(() => server.errors.length === 1, { what: 'handleError' })
          if (stream) expect((await receiveAll(failing)).length).toBe(0)
          for (let i = 0; i < 2; i++) await examine(await h.connect(server))
          expect((server.errors[0] as Error).message).toBe('boom')
          await server.shutdown()
          await loop
        },
        timeout,
      )

      // BaseRequestHandler.__init__: setup(); try: handle() finally: finish().
      it(
        'runs setup, handle and finish in order, and finish even when handle throws',
        async () => {
          const events = rec.events
          class Quiet extends Server {
            override handleError() {
              events.push('handleError')
            }
          }
          const server = await create(handlers.OrderedHandler, {}, Quiet)
          const loop = h.serve(server)
          await examine(await h.connect(server), 'fine\n')
          await waitFor(() => events.includes('finish'), { what: 'finish()' })
          const failing = await h.connect(server)
          await failing.send('boom\n')
          await waitFor(() => events.includes('handleError'), { what: 'handleError' })
          expect(events).toEqual([
            'setup',
            'handle fine',
            'finish',
            'setup',
            'handle boom',
            'finish',
            'handleError',
          ])
          await server.shutdown()
          await loop
        },
        timeout,
      )

      // bpo-31151 / bpo-37193 (block_on_close): server_close() waits for the requests in flight.
      it(
        'serverClose waits for in-flight handlers (blockOnClose, the default)',
        async () => {
          const opened = gate()
          const events = rec.events
          const server = await create(handlers.BlockingHandler)
          expect(server.blockOnClose).toBe(true)
          const loop = h.serve(server)
          const client = await h.connect(server)
          await client.send(TEST_STR)
          await waitFor(() => events.includes('handle start'), { what: 'the handler to start' })
          // The loop stops at once; the handler keeps running.
          await server.shutdown()
          await loop
          const closing = server.serverClose().then(() => events.push('closed'))
          await settle()
          expect(events).toEqual(['handle start'])
          expect(server.activeRequestCount).toBe(1)
          // A stream server stops accepting at once; a datagram server may keep its one socket
          // open for the replies of the requests in flight.
          if (stream) expect(setup.isListening(server)).toBe(false)
          opened.open()
          await closing
          expect(events).toEqual(['handle start', 'handle end', 'closed'])
          expect(server.activeRequestCount).toBe(0)
          expect((await receiveLine(client)).toString()).toBe(TEST_STR)
        },
        timeout,
      )

      // bpo-37193: with block_on_close = False, server_close() does not wait.
      it(
        'serverClose does not wait for handlers with blockOnClose false',
        async () => {
          const opened = gate()
          const events = rec.events
          class Quiet extends Server {
            errors: unknown[] = []
            override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
              this.errors.push(error)
            }
          }
          const server = await create(handlers.BlockingHandler, { blockOnClose: false }, Quiet)
          const loop = h.serve(server)
          const client = await h.connect(server)
          await client.send(TEST_STR)
          await waitFor(() => events.includes('handle start'), { what: 'the handler to start' })
          await server.shutdown()
          await loop
          await server.serverClose()
          expect(events).toEqual(['handle start'])
          expect(server.activeRequestCount).toBe(1)
          opened.open()
          // The handler still finishes its work on its open connection (a datagram server's
          // socket, shared by every request, is closed: that reply is lost).
          if (stream) expect((await receiveLine(client)).toString()).toBe(TEST_STR)
          await waitFor(() => server.activeRequestCount === 0, { what: 'the handler to end' })
          expect(events).toEqual(['handle start', 'handle end'])
          if (stream) expect(server.errors).toEqual([])
        },
        timeout,
      )

      // test_threads_reaped (bpo-37193): the server does not keep every finished request.
      it(
        'keeps no finished request (requests reaped)',
        async () => {
          const server = await create(handlers.CountingHandler)
          for (let i = 0; i < 10; i++) {
            const client = await h.connect(server)
            await client.send(TEST_STR)
            await server.handleRequest()
            expect((await receiveLine(client)).toString()).toBe(TEST_STR)
            await client.close()
          }
          await waitFor(() => server.activeRequestCount === 0, { what: 'every request to be released' })
          expect(rec.events.filter((event) => event === 'handle')).toHaveLength(10)
        },
        timeout,
      )
    })

    if (setup.concurrency === 'one-at-a-time') {
      describe('one request at a time', () => {
        // BaseServer/TCPServer: "synchronous: each request must be completed before the next can be
        // started" (socketserver.py); a second client waits in the queue.
        it(
          'handles a second request only after the first has finished, in arrival order',
          async () => {
            const opened = gate()
            const events = rec.events
            const server = await create(handlers.SlowHandler)
            const loop = h.serve(server)
            const a = await h.connect(server)
            await a.send('slow\n')
            await waitFor(() => events.includes('start slow'), { what: 'the first handler to start' })
            const b = await h.connect(server)
            await b.send('b\n')
            await waitFor(() => server.queuedRequestCount === 1, { what: 'the second request to be queued' })
            await settle()
            expect(events).toEqual(['start slow'])
            expect(server.activeRequestCount).toBe(1)
            opened.open()
            expect((await receiveLine(a)).toString()).toBe('slow\n')
            expect((await receiveLine(b)).toString()).toBe('b\n')
            await waitFor(() => events.length === 4, { what: 'both handlers to end' })
            expect(events).toEqual(['start slow', 'end slow', 'start b', 'end b'])
            await server.shutdown()
            await loop
          },
          timeout,
        )
      })
    } else {
      describe('concurrent requests', () => {
        // ThreadingMixIn / ForkingMixIn: each request is handled on its own, so a slow handler does
        // not hold up another client (test_ThreadingTCPServer, test_ForkingTCPServer serve through it).
        it(
          'lets another client be served while a handler is still running',
          async () => {
            const opened = gate()
            const events = rec.events
            const server = await create(handlers.SlowHandler)
            const loop = h.serve(server)
            const slow = await h.connect(server)
            await slow.send('slow\n')
            await waitFor(() => events.includes('start slow'), { what: 'the slow handler to start' })
            for (let i = 0; i < 3; i++) {
              const fast = await h.connect(server)
              await examine(fast, `fast${i}\n`)
            }
            await waitFor(() => events.includes('end fast2'), { what: 'the fast handlers to end' })
            expect(events).not.toContain('end slow')
            // A remote handler reports its end before its worker tells the server it is done.
            await waitFor(() => server.activeRequestCount === 1, { what: 'the fast requests to be released' })
            opened.open()
            expect((await receiveLine(slow)).toString()).toBe('slow\n')
            await waitFor(() => events.includes('end slow'), { what: 'the slow handler to end' })
            await server.shutdown()
            await loop
          },
          timeout,
        )
      })
    }
  })
}
