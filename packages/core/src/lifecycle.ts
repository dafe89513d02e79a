import type { RequestHandler, RequestHandlerClass } from './handler.js'
import type { TrackedNode } from './request-tracker.js'

/**
 * The one request lifecycle, for every mode. A handler's steps run in Python's order —
 * `setup()`, `handle()`, `finish()` — with its rules: `finish()` runs even when `handle()` throws,
 * an error of `finish()` then wins, and an error of `setup()` skips the rest. Steps that return
 * plain values run straight on; a step that returns a promise is resumed by two callbacks made
 * once, when the first one is needed. So a request whose steps are all synchronous allocates no
 * promise at all, and one that waits holds no suspended async function.
 *
 * Two kinds of run share these steps:
 * - `PromiseRun` (`runHandler()`): the handler's steps alone, as a promise; worker threads and
 *   child processes run handlers this way, and `BaseServer.finishRequest()` too.
 * - `RequestRun` (`BaseServer.runRequest()`): a whole request on this thread — the server's
 *   `finishRequest()` (these steps, unless overridden), then `shutdownRequest()`, errors to
 *   `handleError()`, tracked from start to end. The one-at-a-time and event-loop modes use it.
 */
abstract class HandlerSteps {
  protected step: number
  protected handler: RequestHandler | undefined
  #handleError: unknown = NO_ERROR // what handle() threw, kept for after finish()
  #watched: Promise<unknown> | undefined // an offered promise the step waits for (offerStepPromise)

  constructor(handler: RequestHandler | undefined, step: number) {
    this.handler = handler
    this.step = step
  }

  /** Runs steps until one returns a promise (resumed when it settles) or the last is done. */
  run(): void {
    while (this.step < DONE) {
      let result: unknown
      offered = offeredBy = undefined
      stepRunning = true
      try {
        result = this.call()
      } catch (error) {
        stepRunning = false
        offered = offeredBy = undefined
        this.#failed(error)
        return
      }
      stepRunning = false
      const maker = takeOffer(result)
      if (maker) {
        // Its maker settles this step: nothing subscribes to the promise while it is pending.
        this.#watched = result as Promise<unknown>
        maker[kWatchStep](this)
        return
      }
      // COMPLETED_STEP is done already: straight on, with no reaction and no microtask.
      if (result !== COMPLETED_STEP && isPromise(result)) {
        // Bound methods: smaller than two closures and the context they would share; made per wait
        // rather than kept (a request waits once or twice), so an idle request keeps no slot for them.
        result.then(this.#resumed.bind(this), this.#failed.bind(this))
        return
      }
      this.step = this.step === CUSTOM ? DONE : this.step + 1
    }
    const error = this.#handleError
    this.ended(error !== NO_ERROR, error)
  }

  /** See `settleStep()`. */
  static settle(step: HandlerSteps, failed: boolean, error: unknown): void {
    const promise = step.#watched
    step.#watched = undefined
    if (failed) promise?.then(undefined, ignore) // handled here, as a reaction would have handled it
    // After the promise's own reactions (queued as it settled), as a reaction of this step's would be.
    queueMicrotask(() => (failed ? step.#failed(error) : step.#resumed()))
  }

  #resumed(): void {
    this.step = this.step === CUSTOM ? DONE : this.step + 1
    this.run()
  }

  #failed(error: unknown): void {
    if (this.step === HANDLE) {
      this.#handleError = error
      this.step = FINISH
      this.run()
      return
    }
    this.step = DONE
    this.ended(true, error)
  }

  /** Calls the current step. */
  protected call(): unknown {
    switch (this.step) {
      case SETUP:
        return this.handler!.setup()
      case HANDLE:
        return this.handler!.handle()
      default:
        return this.handler!.finish()
    }
  }

  /** The steps are over: `failed` with `error`, or done. */
  protected abstract ended(failed: boolean, error: unknown): void
}

const ignore = () => {}

/** Package-internal: the method by which a promise's maker learns which step waits for it. */
export const kWatchStep = Symbol('socketserver.watchStep')

/**
 * Package-internal (`@socketserver/core/transport`): a resolved promise that a step whose work is
 * already done may return (so that its callers still get a promise); the lifecycle goes straight on
 * to the next step instead of waiting a microtask for it.
 */
export const COMPLETED_STEP: Promise<void> = Promise.resolve()

/** A maker of promises that settles the step waiting for one itself (stream-handlers' reader). */
export interface StepPromiseMaker {
  /** `step` returned the promise last offered: pass it to `settleStep()` right after settling that promise. */
  [kWatchStep](step: WatchedStep): void
}

/** A handler step waiting for an offered promise (opaque). */
export type WatchedStep = object

// The promise last offered during the step that is running, and its maker: reset before and after
// every step. Nothing is kept outside a step (a reader read from a timer is not retained here).
let offered: unknown
let offeredBy: StepPromiseMaker | undefined
let stepRunning = false

/**
 * Package-internal (`@socketserver/core/transport`): offers `promise`, just made by `maker`, to the
 * handler step under way. If the step returns it (`return this.rfile.copyTo(this.wfile)`), the
 * step does not subscribe to it — no reaction, derived promise or bound functions for as long as it
 * is pending, about 200 bytes of an idle connection — and `maker` calls `settleStep()` instead.
 */
export function offerStepPromise(promise: Promise<unknown>, maker: StepPromiseMaker): void {
  if (!stepRunning) return
  offered = promise
  offeredBy = maker
}

/** The maker of `result` if the step just returned the promise offered; clears the offer. */
function takeOffer(result: unknown): StepPromiseMaker | undefined {
  const maker = offered !== undefined && result === offered ? offeredBy : undefined
  offered = offeredBy = undefined
  return maker
}

/**
 * The promise `step` waits for has settled (`failed`: rejected with `error`): the step goes on in a
 * microtask, after the promise's own reactions, as its reaction would have.
 */
export function settleStep(step: WatchedStep, failed: boolean, error?: unknown): void {
  HandlerSteps.settle(step as HandlerSteps, failed, error)
}

// The steps, in order. CUSTOM stands for a finishRequest() the server overrides.
const CUSTOM = 0
const SETUP = 1 // a RequestRun constructs the handler first
const HANDLE = 2
const FINISH = 3
const DONE = 4
const NO_ERROR = Symbol('no error')
const ENDED = Symbol('ended')

class PromiseRun extends HandlerSteps {
  #resolve!: () => void
  #reject!: (error: unknown) => void
  readonly promise = new Promise<void>((resolve, reject) => {
    this.#resolve = resolve
    this.#reject = reject
  })

  protected ended(failed: boolean, error: unknown): void {
    if (failed) this.#reject(error)
    else this.#resolve()
  }
}

/** Runs a handler's steps as Python's `BaseRequestHandler.__init__` does; rejects with the error that ends them. */
export function runHandler(handler: RequestHandler): Promise<void> {
  const run = new PromiseRun(handler, SETUP)
  run.run()
  return run.promise
}

/** A request being processed on this thread, as `BaseServer.runRequest()` returns it. */
export interface RunningRequest {
  /** `undefined` once the request has ended; until then a promise that resolves when it does. */
  settled(): Promise<void> | undefined
}

/** A request's node in the server's tracker, with its client address (for `request:end`). */
export interface TrackedRequest extends TrackedNode<unknown> {
  readonly clientAddress: unknown
}

/** What a `RequestRun` needs of its server: made once per server by `BaseServer` (core-internal). */
export interface RequestHost {
  readonly server: {
    readonly RequestHandlerClass: RequestHandlerClass
    finishRequest(request: unknown, clientAddress: unknown): unknown
    shutdownRequest(request: unknown): void
  }
  /** Whether the server overrides `finishRequest()` (then it is the one step). */
  readonly customFinish: boolean
  /** Starts tracking a request; returns what `end` takes back (a start time when someone listens). */
  begin(node: TrackedRequest): number
  /** Stops tracking it and publishes `request:end`. */
  end(node: TrackedRequest, started: number): void
  /** The server's `reportError()`: publishes, then `handleError()`. */
  report(request: unknown, clientAddress: unknown, error: unknown): Promise<void>
}

/**
 * Package-internal (`@socketserver/core/transport`): a static method by which a handler class
 * serves its requests itself instead of one handler instance per request (stream-handlers'
 * `ConnectionHandler`). The server calls it once, when constructed, and then calls what it returns
 * for each request in place of a `RequestRun`; that request must be tracked with the host's
 * `begin()`/`end()` until it ends. Only modes that run requests on this thread (one at a time, the
 * event loop) can serve such a class: the pools reject it (`rejectRequestServer()`).
 */
export const kServeRequests = Symbol.for('socketserver.serveRequests')

/** What `[kServeRequests](host)` returns: runs one request, returns at once. */
export type RequestServer = (request: unknown, clientAddress: unknown) => RunningRequest

/** The request server of a handler class that has one (`kServeRequests`). */
export function requestServerOf(
  RequestHandlerClass: RequestHandlerClass,
): ((host: RequestHost) => RequestServer) | undefined {
  const serve = (RequestHandlerClass as { [kServeRequests]?: (host: RequestHost) => RequestServer })[
    kServeRequests
  ]
  return typeof serve === 'function' ? serve.bind(RequestHandlerClass) : undefined
}

/**
 * One request on this thread, from the handler's construction to `shutdownRequest()`; see the
 * lifecycle above. It is also the request's node in the server's tracker (`prev`/`next`).
 */
export class RequestRun extends HandlerSteps implements TrackedRequest, RunningRequest {
  readonly #host: RequestHost
  readonly request: unknown
  readonly clientAddress: unknown
  prev: TrackedNode<unknown> | undefined = undefined
  next: TrackedNode<unknown> | undefined = undefined
  readonly #started: number
  // Who waits for the end (settled(); only the one-at-a-time mode asks), or ENDED.
  #waiter: (() => void) | typeof ENDED | undefined

  constructor(host: RequestHost, request: unknown, clientAddress: unknown) {
    super(undefined, host.customFinish ? CUSTOM : SETUP)
    this.#host = host
    this.request = request
    this.clientAddress = clientAddress
    this.#started = host.begin(this)
  }

  /** `undefined` once the request has ended; until then a promise that resolves when it does. */
  settled(): Promise<void> | undefined {
    if (this.#waiter === ENDED) return undefined
    return new Promise((resolve) => (this.#waiter = resolve))
  }

  protected override call(): unknown {
    const server = this.#host.server
    if (this.step === CUSTOM) return server.finishRequest(this.request, this.clientAddress)
    if (this.step === SETUP)
      this.handler = new server.RequestHandlerClass(this.request, this.clientAddress, server)
    return super.call()
  }

  protected ended(failed: boolean, error: unknown): void {
    if (!failed) {
      this.#close()
      return
    }
    // finally: an override of reportError that rejects still ends the request (and is unhandled, as before).
    Promise.resolve(this.#host.report(this.request, this.clientAddress, error)).finally(() => this.#close())
  }

  #close(): void {
    try {
      this.#host.server.shutdownRequest(this.request)
    } catch {
      // already closed
    }
    const waiter = this.#waiter
    this.#waiter = ENDED
    this.#host.end(this, this.#started)
    if (waiter !== undefined && waiter !== ENDED) waiter()
  }
}

/** Whether a hook returned something to await (a thenable, as `await` sees it). */
export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}
