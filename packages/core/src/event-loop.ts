import { isPromise, type RequestHandler } from './handler.js'
import type { TrackedNode } from './request-tracker.js'
import { BaseServer, internals } from './server.js'

export type ServerConstructor<T extends BaseServer<any, any, any> = BaseServer<any, any, any>> =
  abstract new (
    ...args: any[]
  ) => T

/** Options `EventLoopMixIn` adds (also fields of the same name). */
export interface EventLoopServerOptions {
  /** Requests processed at once; past this, new requests wait in the queue. Default: `Infinity`. */
  maxConcurrentRequests?: number
}

/** What `EventLoopMixIn` adds to a server. */
export interface EventLoopServer {
  /**
   * Requests processed at once; past this, new requests wait in the queue (and past
   * `maxQueuedRequests`, are dropped). Default: `Infinity`.
   */
  maxConcurrentRequests: number
}

/**
 * Node's own concurrency: every request's handler runs at once on the one event loop, interleaved
 * at each `await`. This is the mode most Node servers want (handlers that do I/O, not CPU work);
 * use the thread or fork packages for CPU-bound or blocking handlers.
 *
 * `class EventLoopTCPServer extends EventLoopMixIn(TCPServer) {}`
 */
export function EventLoopMixIn<TBase extends ServerConstructor>(
  Base: TBase,
): TBase & ServerConstructor<InstanceType<TBase> & EventLoopServer> {
  abstract class EventLoopMixInServer extends Base implements EventLoopServer {
    maxConcurrentRequests = Number.POSITIVE_INFINITY

    constructor(...args: any[]) {
      super(...args)
      this.applyOptions() // the field initialiser above ran after BaseServer copied the options
    }

    override processRequest(request: unknown, clientAddress: unknown): Promise<void> | undefined {
      // The fast path tracks the request itself: a promise chain per request is most of what an
      // idle connection costs beyond its socket, and a third of a datagram's overhead. A subclass
      // that overrides trackRequest() gets its promise, as before.
      if (!internals.overridesTrackRequest(this)) new BackgroundRequest(this, request, clientAddress).run()
      else this.trackRequest(request, clientAddress, this.#processInBackground(request, clientAddress))
      if (this.activeRequestCount < this.maxConcurrentRequests) return undefined
      return this.whenActiveBelow(this.maxConcurrentRequests)
    }

    // Python's ThreadingMixIn.process_request_thread, on the event loop.
    #processInBackground(request: unknown, clientAddress: unknown): Promise<void> {
      const shutdown = () => {
        try {
          this.shutdownRequest(request)
        } catch {
          // already closed
        }
      }
      let finished: Promise<void> | void
      try {
        finished = this.finishRequest(request, clientAddress)
      } catch (error) {
        finished = Promise.reject(error)
      }
      return Promise.resolve(finished).then(shutdown, async (error: unknown) => {
        try {
          await this.reportError(request, clientAddress, error)
        } finally {
          shutdown()
        }
      })
    }
  }
  return EventLoopMixInServer as unknown as TBase & ServerConstructor<InstanceType<TBase> & EventLoopServer>
}

// The steps of one request, in order. CUSTOM stands for a finishRequest() the server overrides.
const CUSTOM = 0
const SETUP = 1 // constructs the handler, then setup()
const HANDLE = 2
const FINISH = 3
const DONE = 4
const NONE = Symbol('no error')

/**
 * One request in the event-loop mode: finishRequest() (runHandler's steps), then shutdownRequest(),
 * reportError() on failure, and the tracking trackRequest() does, with the semantics of that chain
 * of promises but none of its own: steps that return plain values run straight on, and a step that
 * returns a promise is resumed by the same two callbacks, made once, when the first one is needed.
 */
class BackgroundRequest implements TrackedNode<unknown> {
  readonly #server: BaseServer<any, any, any>
  readonly request: unknown
  prev: TrackedNode<unknown> | undefined = undefined
  next: TrackedNode<unknown> | undefined = undefined
  readonly #clientAddress: unknown
  readonly #start: number
  #step: number
  #handler: RequestHandler | undefined
  #handleError: unknown = NONE // what handle() threw, kept for after finish()
  #resume: (() => void) | undefined
  #fault: ((error: unknown) => void) | undefined

  constructor(server: BaseServer<any, any, any>, request: unknown, clientAddress: unknown) {
    this.#server = server
    this.request = request
    this.#clientAddress = clientAddress
    this.#start = internals.start(server, request, this)
    this.#step = server.finishRequest === BaseServer.prototype.finishRequest ? SETUP : CUSTOM
  }

  run(): void {
    while (this.#step !== DONE) {
      let result: unknown
      try {
        result = this.#call()
      } catch (error) {
        this.#failed(error)
        return
      }
      if (isPromise(result)) {
        // Bound methods: smaller than two closures and the context they would share.
        this.#resume ??= this.#resumed.bind(this)
        this.#fault ??= this.#failed.bind(this)
        result.then(this.#resume, this.#fault)
        return
      }
      this.#advance()
    }
    const handleError = this.#handleError
    if (handleError === NONE) this.#end(false, undefined)
    else this.#end(true, handleError)
  }

  #resumed(): void {
    this.#advance()
    this.run()
  }

  #call(): unknown {
    switch (this.#step) {
      case CUSTOM:
        return this.#server.finishRequest(this.request, this.#clientAddress)
      case SETUP:
        this.#handler = new this.#server.RequestHandlerClass(this.request, this.#clientAddress, this.#server)
        return this.#handler.setup()
      case HANDLE:
        return this.#handler!.handle()
      default:
        return this.#handler!.finish()
    }
  }

  #advance(): void {
    this.#step = this.#step === CUSTOM ? DONE : this.#step + 1
  }

  // As runHandler: finish() runs after handle() fails, and its own error, if any, wins.
  #failed(error: unknown): void {
    if (this.#step === HANDLE) {
      this.#handleError = error
      this.#step = FINISH
      this.run()
      return
    }
    this.#step = DONE
    this.#end(true, error)
  }

  #end(failed: boolean, error: unknown): void {
    if (!failed) {
      this.#close()
      return
    }
    const reported = internals.reportError(this.#server, this.request, this.#clientAddress, error)
    // finally: an override of reportError that rejects still ends the request (and is unhandled, as before).
    Promise.resolve(reported).finally(() => this.#close())
  }

  #close(): void {
    try {
      this.#server.shutdownRequest(this.request)
    } catch {
      // already closed
    }
    internals.end(this.#server, this.request, this.#clientAddress, this.#start, this)
  }
}
