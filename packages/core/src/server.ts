import { performance } from 'node:perf_hooks'
import { AccessControl, type AccessControlOptions } from './access-control.js'
import { channels } from './channels.js'
import {
  AlreadyServingError,
  formatAddress,
  InvalidArgumentError,
  InvalidStateError,
  NoRequestError,
  QueueFullError,
  ServerClosedError,
} from './errors.js'
import type { RequestHandlerClass } from './handler.js'
import {
  isPromise,
  type RequestHost,
  RequestRun,
  type RequestServer,
  type RunningRequest,
  requestServerOf,
  runHandler,
} from './lifecycle.js'
import { applyOptionTables, check, type OptionTable } from './options.js'
import { RequestQueue } from './request-queue.js'
import { RequestTracker, type TrackedNode } from './request-tracker.js'
import type { InheritedSocket } from './socket-activation.js'
import type { Admission, ConnectionStage, StageCallback, Transport } from './transport.js'

export type AddressFamily = 'IPv4' | 'IPv6' | 'Unix'
export type SocketType = 'stream' | 'dgram'

/** Options every server takes; each one is also a public field of the same name. */
export interface BaseServerOptions {
  /** Bind and listen right away (a microtask after construction). Default: `true`. */
  bindAndActivate?: boolean
  /** How long `handleRequest()` waits for a request before `handleTimeout()`, in ms. `null` waits forever. Default: `null`. */
  timeout?: number | null
  /** `serverClose()` waits for requests still being processed. Default: `true`. */
  blockOnClose?: boolean
  /** Set `SO_REUSEADDR` before binding. Default: `false` (see the transport's README for what Node allows). */
  allowReuseAddress?: boolean
  /** Set `SO_REUSEPORT` before binding (Node >= 22.12 on Linux). Default: `false`. */
  allowReusePort?: boolean
  /** Listen backlog passed to the kernel. Default: `511`, Node's (Python's 5 resets connections in a burst: ADR 4). */
  requestQueueSize?: number
  /** Requests received but not yet taken by the serve loop; past this, new ones are dropped. Default: `1024`. */
  maxQueuedRequests?: number
  /**
   * Allow and deny lists (CIDR) and a per-address limit of requests at once, checked before
   * `verifyRequest()`; a refused request is shut down unprocessed and published on
   * `socketserver:request:dropped` with an `AccessDeniedError`. Default: `undefined` (everyone).
   */
  accessControl?: AccessControl | AccessControlOptions
  /**
   * Adopt a listening socket this process inherited instead of binding one: the descriptor passed
   * by systemd's socket activation (`{ name }`: its `FileDescriptorName=`), or by the process this
   * one replaces (`restartProcess()`), or any descriptor number (`{ fd }`). Its type and family are
   * checked against the server (`InheritedSocketMismatchError`); the address argument is then only
   * a placeholder and `serverAddress` becomes the socket's. Linux only. Default: `undefined` (bind).
   */
  inherited?: InheritedSocket
}

export interface ServeForeverOptions {
  /** How often the loop wakes to run `serviceActions()` when no request arrives, in ms. Default: `500`. */
  pollInterval?: number
}

export interface ShutdownGracefullyOptions {
  /** How long in-flight requests may run before they are cut short, in ms. Default: `10000`. */
  timeout?: number
}

const RESOLVED = Promise.resolve()
// handleRefusal() prints at most one line per interval, in ms.
const REFUSAL_LOG_INTERVAL = 1_000

/** What a request served on arrival left for the serve loop: a handling or actions to await, or an error. */
interface Arrival {
  pending: boolean
  handled?: Promise<void> | undefined
  actions?: Promise<void> | undefined
  failure?: { error: unknown } | undefined
}
const NO_ARRIVAL: Arrival = { pending: false }

/**
 * Python's `BaseServer`: the serve loop and every hook, independent of the transport. A transport
 * subclass binds (`serverBind`/`serverActivate`), feeds received requests to `enqueueRequest()`,
 * closes them (`shutdownRequest`/`closeRequest`) and its listener (`closeListener`), and declares
 * what concurrency modes may ask of it (`transport`). A concurrency mode overrides
 * `processRequest`: it runs the request here with `runRequest()` or hands it elsewhere and reports
 * that work with `trackRequest()`. docs/architecture.md maps each step to its file.
 *
 * Options: each class declares the options it adds in `static readonly options` (default and
 * check) and their fields with `declare`; the constructor checks and assigns them all, once.
 */
export abstract class BaseServer<Request = unknown, ClientAddress = unknown, ServerAddress = unknown> {
  static readonly options: OptionTable = {
    bindAndActivate: { check: check.boolean, field: false },
    timeout: { default: null, check: check.ms({ nullable: true }) },
    blockOnClose: { default: true, check: check.boolean },
    allowReuseAddress: { default: false, check: check.boolean },
    allowReusePort: { default: false, check: check.boolean },
    requestQueueSize: { default: 511, check: check.integer({ max: 2 ** 31 - 1 }) },
    maxQueuedRequests: { default: 1024, check: check.integer({ min: 1, infinite: true }) },
    accessControl: {
      check: (value) =>
        value instanceof AccessControl || check.object(value) === undefined
          ? undefined
          : 'an AccessControl or its options ({ allow, deny, maxConnectionsPerAddress })',
    },
    inherited: {
      check: (value) =>
        value === undefined ||
        (check.object(value) === undefined &&
          (Number.isInteger((value as { fd?: unknown }).fd) ||
            typeof (value as { name?: unknown }).name === 'string'))
          ? undefined
          : '{ fd: number } or { name: string }',
    },
  }

  declare timeout: number | null
  declare blockOnClose: boolean
  declare allowReuseAddress: boolean
  declare allowReusePort: boolean
  declare requestQueueSize: number
  declare maxQueuedRequests: number
  declare inherited: InheritedSocket | undefined
  abstract readonly addressFamily: AddressFamily | undefined
  abstract readonly socketType: SocketType

  /** The address asked for until bound; then the real one (port 0 resolved). */
  serverAddress: ServerAddress
  readonly RequestHandlerClass: RequestHandlerClass<Request, ClientAddress, any>

  readonly #queue: RequestQueue<[Request, ClientAddress]>
  readonly #active = new RequestTracker<unknown>()
  #bound: Promise<void> | undefined
  #serving = false
  #shutdownRequested = false
  #stopped: Promise<void> = RESOLVED
  #wakeLoop: (() => void) | undefined
  #closing: Promise<void> | undefined
  #giveUpWaiting: (() => void) | undefined
  readonly #gaveUp = new Promise<void>((resolve) => (this.#giveUpWaiting = resolve))
  // A request the one-at-a-time loop was running when shutdown() stopped it; the next loop waits for it.
  #unfinished: Promise<void> | undefined
  #accessControl: AccessControl | undefined
  #arrival: Arrival = NO_ARRIVAL
  readonly #host: RequestHost
  // A handler class that serves its requests itself (stream-handlers' ConnectionHandler).
  readonly #serveRequest: RequestServer | undefined
  #stages: readonly ConnectionStage<Request, ClientAddress>[] | undefined
  // Connections inside a stage (and the stage's index): not requests yet, but serverClose() closes them.
  readonly #admitting = new Map<Request, number>()
  // What a stage that answers later calls (one object per server, no closure per connection).
  readonly #later: StageCallback<Request, ClientAddress> = {
    admitted: (request, next, clientAddress) => {
      const at = this.#admitting.get(request)
      if (at === undefined) return
      this.#admitting.delete(request)
      this.#admit(at + 1, next, clientAddress)
    },
    refused: (request, clientAddress, error) => {
      const at = this.#admitting.get(request)
      if (at === undefined) return
      this.#admitting.delete(request)
      this.#refuse(this.#stages![at]!.name, request, clientAddress, error)
    },
  }
  readonly #refused = new Map<string, number>()
  #refusalLogAt = 0
  #refusalsUnlogged = 0
  #turns = 0

  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass<Request, ClientAddress, any>,
    options: BaseServerOptions = {},
  ) {
    if (typeof RequestHandlerClass !== 'function') {
      throw new InvalidArgumentError('RequestHandlerClass must be a class (a constructor function)')
    }
    this.serverAddress = serverAddress
    this.RequestHandlerClass = RequestHandlerClass
    applyOptionTables(this, new.target, options)
    this.checkOptions()
    this.#queue = new RequestQueue(this.maxQueuedRequests)
    this.#host = {
      server: this as BaseServer<any, any, any>,
      customFinish: this.finishRequest !== BaseServer.prototype.finishRequest,
      begin: (node) => this.#begin(node.request, node),
      end: (node, started) => this.#end(node.request, node.clientAddress, started, node),
      report: (request, clientAddress, error) =>
        this.reportError(request as Request, clientAddress as ClientAddress, error),
    }
    this.#serveRequest = requestServerOf(RequestHandlerClass)?.(this.#host)
    const bindAndActivate = options?.bindAndActivate ?? true
    // Deferred so that subclass constructors and field initialisers have run before serverBind().
    if (bindAndActivate) {
      this.#bound = RESOLVED.then(() => this.#bindAndActivate())
      this.#bound.catch(() => {}) // surfaced by create() and serveForever()
    }
  }

  /**
   * Constructs, binds and activates a server; resolves once it listens, or rejects with the bind
   * error after closing everything it opened.
   */
  static async create<S extends BaseServer<any, any, any>, A extends unknown[]>(
    this: new (
      ...args: A
    ) => S,
    ...args: A
  ): Promise<S> {
    const options = (args[2] ?? {}) as BaseServerOptions
    args[2] = { ...options, bindAndActivate: true }
    const server = new this(...args)
    await server.#bound
    return server
  }

  async #bindAndActivate(): Promise<void> {
    if (this.#closing) throw new ServerClosedError()
    try {
      await this.serverBind()
      await this.serverActivate()
    } catch (error) {
      await this.serverClose()
      throw error
    }
    if (channels.serverListening.hasSubscribers) {
      channels.serverListening.publish({ server: this, address: this.serverAddress })
    }
  }

  /**
   * Checks what one option's table entry cannot: rules across options, or between an option and
   * the address. Called once by the constructor, after the options are assigned and before
   * anything binds (a subclass's own fields are not initialised yet: use options only). Throw
   * `InvalidArgumentError`; call `super.checkOptions()`.
   */
  protected checkOptions(): void {}

  /** The `accessControl` option as an `AccessControl` (its `refused` counters, `connectionsFrom()`). */
  get accessControl(): AccessControl | undefined {
    return this.#accessControl
  }

  set accessControl(value: AccessControl | AccessControlOptions | undefined) {
    this.#accessControl =
      value === undefined || value instanceof AccessControl ? value : new AccessControl(value)
  }

  /** Whether `serverClose()` has been called. */
  get closed(): boolean {
    return this.#closing !== undefined
  }

  /** Requests being processed right now. */
  get activeRequestCount(): number {
    return this.#active.size
  }

  /** Requests received and waiting for the serve loop. */
  get queuedRequestCount(): number {
    return this.#queue.length
  }

  /**
   * Turns the serve loop has taken (each `serviceActions()` call): a service manager's watchdog
   * (`ServiceNotifier`) pings only while this moves, so a loop stuck on a request stops the pings.
   */
  get serveLoopTurns(): number {
    return this.#turns
  }

  /**
   * The listening socket's descriptor (Python's `fileno()`), which `restartProcess()` passes to
   * the new process. The base has none: `InvalidStateError`.
   */
  fileno(): number {
    throw new InvalidStateError(`${this.constructor.name} has no listening descriptor to give`)
  }

  /**
   * Called by `restartProcess()` once another process serves this listening socket: closing it here
   * must then leave what that process uses (a Unix server's socket file). The base does nothing.
   */
  listenerHandedOver(): void {}

  // --- hooks a transport implements -------------------------------------------------------------

  /** Binds the socket to `serverAddress` and records the real address there. */
  abstract serverBind(): Promise<void> | void
  /** Starts listening (stream) or receiving (datagram). */
  abstract serverActivate(): Promise<void> | void
  /** Closes the listening socket; called once by `serverClose()`. */
  protected abstract closeListener(): Promise<void> | void
  /** Closes one request's socket (Python's `close_request`). */
  abstract closeRequest(request: Request): void

  /** Half-closes then closes a request (Python's `shutdown_request`); the base just closes it. */
  shutdownRequest(request: Request): void {
    this.closeRequest(request)
  }

  /** What concurrency modes may ask of this transport (accept paused, close policy, datagram replies). */
  protected abstract readonly transport: Transport<Request>

  /** Closes a request right away, dropping what it had left to send; used when cutting requests short. */
  protected abortRequest(request: Request): void {
    this.closeRequest(request)
  }

  /**
   * Hands a received request to the serve loop. Returns false, after closing it, when the
   * server is closed or `maxQueuedRequests` requests are already waiting.
   */
  protected enqueueRequest(request: Request, clientAddress: ClientAddress): boolean {
    this.#queue.capacity = this.maxQueuedRequests
    if (this.#queue.push([request, clientAddress])) return true
    const reason = this.#queue.closed ? new ServerClosedError() : new QueueFullError(this.maxQueuedRequests)
    if (channels.requestDropped.hasSubscribers) {
      channels.requestDropped.publish({ server: this, request, clientAddress, reason })
    }
    this.#closeQuietly(request)
    return false
  }

  /**
   * The steps each connection takes before it is queued, in order (a PROXY header, a TLS
   * handshake): see `ConnectionStage`. Read once, at the first connection. The base has none.
   */
  protected connectionStages(): ConnectionStage<Request, ClientAddress>[] {
    return []
  }

  /**
   * Passes a new connection through `connectionStages()`, then to `enqueueRequest()`. A stage that
   * refuses it closes it unprocessed: counted in `refusedConnections`, published on
   * `socketserver:connection:refused`, then passed to `handleRefusal()`.
   */
  protected admitRequest(request: Request, clientAddress: ClientAddress): void {
    this.#stages ??= this.connectionStages()
    if (this.#stages.length === 0) this.enqueueRequest(request, clientAddress)
    else this.#admit(0, request, clientAddress)
  }

  // Stages that answer at once are not awaited (a promise and a microtask each, per connection).
  #admit(from: number, request: Request, clientAddress: ClientAddress): void {
    const stages = this.#stages!
    for (let i = from; i < stages.length; i++) {
      const stage = stages[i]!
      let admitted: Admission<Request, ClientAddress> | Promise<Admission<Request, ClientAddress>> | undefined
      try {
        admitted = stage.admit(request, clientAddress, this.#later)
      } catch (error) {
        this.#refuse(stage.name, request, clientAddress, error)
        return
      }
      if (admitted === undefined) {
        this.#admitting.set(request, i) // it answers later, through #later
        return
      }
      if (isPromise(admitted)) {
        void this.#await(i, request, clientAddress, admitted)
        return
      }
      ;[request, clientAddress] = admitted
    }
    this.enqueueRequest(request, clientAddress)
  }

  async #await(
    at: number,
    request: Request,
    clientAddress: ClientAddress,
    admitted: Promise<Admission<Request, ClientAddress>>,
  ): Promise<void> {
    // The stage's own request: the one it resolves with may be another (a TLSSocket).
    this.#admitting.set(request, at)
    let next: Admission<Request, ClientAddress>
    try {
      next = await admitted
    } catch (error) {
      this.#admitting.delete(request)
      this.#refuse(this.#stages![at]!.name, request, clientAddress, error)
      return
    }
    this.#admitting.delete(request)
    this.#admit(at + 1, next[0], next[1])
  }

  #refuse(stage: string, request: Request, clientAddress: ClientAddress, error: unknown): void {
    this.#closeQuietly(request)
    if (this.closed) return // closing cut the stage short: not a refusal
    const code = (error as { code?: unknown } | undefined)?.code
    const key = typeof code === 'string' ? code : 'UNKNOWN'
    this.#refused.set(key, (this.#refused.get(key) ?? 0) + 1)
    if (channels.connectionRefused.hasSubscribers) {
      channels.connectionRefused.publish({ server: this, request, clientAddress, stage, error })
    }
    try {
      this.handleRefusal(request, clientAddress, error)
    } catch (failure) {
      process.stderr.write(`socketserver: handleRefusal() threw: ${(failure as Error)?.stack ?? failure}\n`)
    }
  }

  /** Connections a connection stage refused, by error code (`SOCKSRV_TLS_HANDSHAKE`, ...). */
  get refusedConnections(): ReadonlyMap<string, number> {
    return this.#refused
  }

  // --- hooks a user or a concurrency mode may override ------------------------------------------

  /** Takes the next received request (Python's `get_request`, `accept()` for stream servers). */
  getRequest(): [Request, ClientAddress] | Promise<[Request, ClientAddress]> {
    const item = this.#queue.shift()
    if (!item) throw new NoRequestError()
    return item
  }

  /** Return false to refuse a request: it is shut down without being processed. */
  verifyRequest(_request: Request, _clientAddress: ClientAddress): boolean | Promise<boolean> {
    return true
  }

  /**
   * Processes one request. Here, as in Python's `BaseServer`, the loop waits for it: one request
   * at a time. Concurrency modes override this: `runRequest()` without waiting (the event loop),
   * or a hand-off to another thread or process reported with `trackRequest()`.
   */
  processRequest(request: Request, clientAddress: ClientAddress): Promise<void> | void {
    return this.runRequest(request, clientAddress).settled()
  }

  /** Runs the handler class on the request: `setup()`, `handle()`, `finish()`. */
  finishRequest(request: Request, clientAddress: ClientAddress): Promise<void> {
    try {
      return runHandler(new this.RequestHandlerClass(request, clientAddress, this))
    } catch (error) {
      return Promise.reject(error) // the handler's constructor threw
    }
  }

  /** Called with every error a request raises; prints it as Python does. The server keeps serving. */
  handleError(_request: Request, clientAddress: ClientAddress, error: unknown): void | Promise<void> {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error)
    process.stderr.write(
      `${'-'.repeat(40)}\nException occurred during processing of request from ${formatAddress(clientAddress)}\n${detail}\n${'-'.repeat(40)}\n`,
    )
  }

  /**
   * Called for each connection a connection stage refused (a bad PROXY header, a failed TLS
   * handshake), once it is closed. Prints one line to stderr at most once a second, with how many
   * it left out since: a flood of bad clients cannot flood the log.
   */
  handleRefusal(_request: Request, clientAddress: ClientAddress, error: unknown): void {
    const now = Date.now()
    if (now < this.#refusalLogAt) {
      this.#refusalsUnlogged++
      return
    }
    this.#refusalLogAt = now + REFUSAL_LOG_INTERVAL
    const unlogged = this.#refusalsUnlogged
    this.#refusalsUnlogged = 0
    const why = error instanceof Error ? error.message : String(error)
    const more = unlogged ? ` (and ${unlogged} more in the last second, not shown)` : ''
    process.stderr.write(
      `socketserver: refused a connection from ${formatAddress(clientAddress)}: ${why}${more}\n`,
    )
  }

  /** Called by `handleRequest()` when no request arrived within `timeout`. */
  handleTimeout(): void | Promise<void> {}

  /** Called once per turn of the serve loop (at least every `pollInterval`). */
  serviceActions(): void | Promise<void> {}

  // --- the serve loop ---------------------------------------------------------------------------

  /** Serves requests until `shutdown()`; resolves when the loop has stopped. */
  async serveForever({ pollInterval = 500 }: ServeForeverOptions = {}): Promise<void> {
    this.#enterLoop()
    let wake!: () => void
    const shutdownSignal = new Promise<void>((resolve) => (wake = resolve))
    let stopped!: () => void
    this.#stopped = new Promise<void>((resolve) => (stopped = resolve))
    this.#wakeLoop = wake
    try {
      if (this.#bound) await this.#bound
      if (this.#unfinished) await this.#unfinished
      const arrival = () => this.#serveArrival()
      while (!this.#shutdownRequested) {
        // Awaited only when the queue was empty: a full queue drains without a turn per request.
        // While it waits, a request that arrives is served at once by #serveArrival, for as long
        // as every hook answers with a plain value: no promise and no turn of this loop per request.
        let ready = this.#queue.wait(pollInterval, arrival)
        if (typeof ready !== 'boolean') ready = await ready
        // What #serveArrival began and could not finish without waiting: this turn finishes it.
        let handled = this.#arrival.handled
        let actions: void | Promise<void> = this.#arrival.actions
        const failure = this.#arrival.failure
        const arrived = this.#arrival.pending
        this.#arrival = NO_ARRIVAL
        if (failure) throw failure.error
        if (this.#shutdownRequested && !handled) break
        // undefined when the request was taken, verified and handed off without waiting (the
        // event-loop mode): nothing to race, no promise allocated per request.
        if (ready && !arrived) handled = this.#handleRequestNoblock()
        // A request still running when shutdown() is called keeps running (serverClose() waits for
        // it); the loop itself stops at once, so shutdown() from inside a handler cannot deadlock.
        // The next serveForever()/handleRequest() waits for it: one at a time stays one at a time.
        if (handled) await Promise.race([handled, shutdownSignal])
        if (handled && this.#shutdownRequested) {
          const unfinished: Promise<void> = handled.finally(() => {
            if (this.#unfinished === unfinished) this.#unfinished = undefined
          })
          this.#unfinished = unfinished
        }
        if (!arrived || handled) {
          this.#turns++
          actions = this.serviceActions()
        }
        if (actions) await actions
      }
    } finally {
      this.#serving = false
      this.#shutdownRequested = false
      this.#wakeLoop = undefined
      stopped()
    }
  }

  /** Stops `serveForever()`; resolves once its loop has stopped. Does nothing when not serving. */
  shutdown(): Promise<void> {
    if (!this.#serving) return RESOLVED
    this.#shutdownRequested = true
    this.#queue.wake()
    this.#wakeLoop?.()
    return this.#stopped
  }

  /** Handles exactly one request, or calls `handleTimeout()` if none arrives within `timeout`. */
  async handleRequest(): Promise<void> {
    this.#enterLoop()
    try {
      if (this.#bound) await this.#bound
      if (this.#unfinished) await this.#unfinished
      const ready = await this.#queue.wait(this.timeout)
      if (ready) await this.#handleRequestNoblock()
      else if (!this.closed) await this.handleTimeout()
    } finally {
      this.#serving = false
      this.#shutdownRequested = false
    }
  }

  // One turn of the serve loop for a request that arrived while it waited, run by the queue's
  // push(): true when it is done, false when the loop must wait for something (#arrival says what).
  #serveArrival(): boolean {
    if (this.#shutdownRequested) return false
    const handled = this.#handleRequestNoblock()
    if (handled) {
      this.#arrival = { pending: true, handled }
      return false
    }
    let actions: void | Promise<void>
    this.#turns++
    try {
      actions = this.serviceActions()
    } catch (error) {
      this.#arrival = { pending: true, failure: { error } }
      return false
    }
    if (!actions) return true
    this.#arrival = { pending: true, actions }
    return false
  }

  #enterLoop(): void {
    if (this.#closing) throw new ServerClosedError()
    if (this.#serving) throw new AlreadyServingError()
    this.#serving = true
    this.#shutdownRequested = false
  }

  // Hooks that return plain values are not awaited (that would cost a microtask and a promise each,
  // per request); hooks that return promises are awaited.
  #handleRequestNoblock(): Promise<void> | undefined {
    let item: [Request, ClientAddress] | Promise<[Request, ClientAddress]>
    try {
      item = this.getRequest()
    } catch {
      return undefined // Python: an accept() that fails is skipped
    }
    if (isPromise(item))
      return item.then(
        (taken) => this.#verifyAndProcess(taken),
        () => {},
      )
    return this.#verifyAndProcess(item)
  }

  #verifyAndProcess([request, clientAddress]: [Request, ClientAddress]): Promise<void> | undefined {
    const refusal = this.#accessControl?.admit(request, clientAddress)
    if (refusal) {
      if (channels.requestDropped.hasSubscribers) {
        channels.requestDropped.publish({ server: this, request, clientAddress, reason: refusal })
      }
      this.#shutdownQuietly(request)
      return undefined
    }
    let verified: boolean | Promise<boolean>
    try {
      verified = this.verifyRequest(request, clientAddress)
    } catch (error) {
      return this.reportError(request, clientAddress, error).then(() =>
        this.#process(request, clientAddress, false),
      )
    }
    if (!isPromise(verified)) return this.#process(request, clientAddress, verified)
    return verified.then(
      (ok) => this.#process(request, clientAddress, ok),
      (error: unknown) =>
        this.reportError(request, clientAddress, error).then(() =>
          this.#process(request, clientAddress, false),
        ),
    )
  }

  #process(request: Request, clientAddress: ClientAddress, verified: boolean): Promise<void> | undefined {
    const access = this.#accessControl
    if (!verified) {
      access?.release(request)
      if (channels.requestDropped.hasSubscribers) {
        channels.requestDropped.publish({ server: this, request, clientAddress, reason: 'verifyRequest' })
      }
      this.#shutdownQuietly(request)
      return undefined
    }
    if (channels.requestStart.hasSubscribers) {
      channels.requestStart.publish({ server: this, request, clientAddress })
    }
    let processed: Promise<void> | void
    try {
      processed = this.processRequest(request, clientAddress)
    } catch (error) {
      return this.#fail(request, clientAddress, error, access)
    }
    // Tracked requests are released when their processing settles (trackRequest); one handed off
    // untracked (daemon threads) is released once handed off.
    if (!processed) {
      if (access && !this.#active.has(request)) access.release(request)
      return undefined
    }
    // Closures only here: the event-loop mode hands requests off without a promise.
    const fail = (error: unknown) => this.#fail(request, clientAddress, error, access)
    if (!access) return Promise.resolve(processed).catch(fail)
    const handedOff = () => {
      if (!this.#active.has(request)) access.release(request)
    }
    return Promise.resolve(processed).then(handedOff, fail)
  }

  async #fail(
    request: Request,
    clientAddress: ClientAddress,
    error: unknown,
    access: AccessControl | undefined,
  ): Promise<void> {
    access?.release(request)
    await this.reportError(request, clientAddress, error)
    this.#shutdownQuietly(request)
  }

  // --- what concurrency modes build on ------------------------------------------------------------

  /**
   * Runs the whole request on this thread, tracked (core's one lifecycle, `lifecycle.ts`):
   * `finishRequest()` — the handler's `setup()`, `handle()`, `finish()` — then `shutdownRequest()`,
   * with errors passed to `handleError()` first. Returns at the first step that waits; the run's
   * `settled()` says when it ends. No promise is made while every step returns a plain value.
   */
  protected runRequest(request: Request, clientAddress: ClientAddress): RunningRequest {
    if (this.#serveRequest) return this.#serveRequest(request, clientAddress)
    const run = new RequestRun(this.#host, request, clientAddress)
    run.run()
    return run
  }

  /**
   * Records `work` as the processing of `request` (a mode that runs it elsewhere):
   * `serverClose()` waits for it (with `blockOnClose`), `shutdownGracefully()` can cut it short,
   * and `request:end` is published when it settles. Returns `work`.
   */
  protected trackRequest(request: Request, clientAddress: ClientAddress, work: Promise<void>): Promise<void> {
    const started = this.#begin(request)
    const done = () => this.#end(request, clientAddress, started)
    return work.then(done, (error: unknown) => {
      done()
      throw error
    })
  }

  // A run is linked rather than counted in the map, except under access control, which asks
  // has() per request: that stays a map lookup.
  #begin(request: unknown, node?: TrackedNode<unknown>): number {
    if (node && !this.#accessControl) this.#active.link(node)
    else this.#active.add(request)
    return channels.requestEnd.hasSubscribers ? performance.now() : 0
  }

  #end(request: unknown, clientAddress: unknown, started: number, node?: TrackedNode<unknown>): void {
    if (!node || !this.#active.unlink(node)) this.#active.delete(request)
    if (this.#accessControl && !this.#active.has(request)) this.#accessControl.release(request)
    if (channels.requestEnd.hasSubscribers) {
      channels.requestEnd.publish({
        server: this,
        request,
        clientAddress,
        durationMs: started ? performance.now() - started : undefined,
      })
    }
  }

  /** Resolves once fewer than `limit` requests are being processed. */
  protected whenActiveBelow(limit: number): Promise<void> {
    return this.#active.whenBelow(limit)
  }

  /** Publishes `error` and passes it to `handleError()`; an error thrown by `handleError` itself is printed, never propagated. */
  protected async reportError(request: Request, clientAddress: ClientAddress, error: unknown): Promise<void> {
    if (channels.requestError.hasSubscribers) {
      channels.requestError.publish({ server: this, request, clientAddress, error })
    }
    try {
      await this.handleError(request, clientAddress, error)
    } catch (failure) {
      process.stderr.write(`socketserver: handleError() threw: ${(failure as Error)?.stack ?? failure}\n`)
    }
  }

  #shutdownQuietly(request: Request): void {
    try {
      this.shutdownRequest(request)
    } catch {
      // already closed
    }
  }

  #closeQuietly(request: Request): void {
    try {
      this.abortRequest(request)
    } catch {
      // already closed
    }
  }

  // --- closing ------------------------------------------------------------------------------------

  /**
   * Closes the listening socket and every request still waiting in the queue; with `blockOnClose`,
   * resolves once the requests being processed have finished. Idempotent.
   */
  serverClose(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    if (channels.serverClose.hasSubscribers) channels.serverClose.publish({ server: this })
    if (this.#serving) {
      this.#shutdownRequested = true
      this.#wakeLoop?.()
    }
    for (const [request] of this.#queue.close()) this.#closeQuietly(request)
    for (const request of this.#admitting.keys()) this.#closeQuietly(request)
    await this.closeListener()
    if (this.blockOnClose) await Promise.race([this.#active.idle(), this.#gaveUp])
  }

  /** Cuts short every request being processed (closes its socket); returns how many. */
  abortRequests(): number {
    let count = 0
    for (const request of [...this.#active.requests()]) {
      this.#closeQuietly(request as Request)
      count++
    }
    return count
  }

  /**
   * Stops serving, closes the listener, lets in-flight requests finish for up to `timeout` ms,
   * then cuts the rest short. Resolves with how many were cut short.
   */
  async shutdownGracefully({
    timeout = 10_000,
  }: ShutdownGracefullyOptions = {}): Promise<{ aborted: number }> {
    const finished = Promise.all([this.shutdown(), this.serverClose(), this.#active.idle()])
    if (await settlesWithin(finished, timeout)) return { aborted: 0 }
    const aborted = this.abortRequests()
    if (!(await settlesWithin(finished, 2_000))) this.#giveUpWaiting?.() // handlers that ignore the abort
    return { aborted }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown()
    await this.serverClose()
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, ms, false)
  })
  try {
    return await Promise.race([promise.then(() => true), timedOut])
  } finally {
    clearTimeout(timer)
  }
}
