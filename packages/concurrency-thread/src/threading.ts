import { availableParallelism } from 'node:os'
import { isMainThread, type ResourceLimits, type Worker } from 'node:worker_threads'
import {
  type BaseServer,
  HandlerModuleError,
  InvalidArgumentError,
  InvalidStateError,
  isHandlerWorker,
  RemoteHandlerError,
  type ServerConstructor,
} from '@socketserver/core'
import {
  check,
  handlerModuleUrl,
  missingHandlerModule,
  type OptionTable,
  rejectRequestServer,
} from '@socketserver/core/transport'
import { type StreamPath, ThreadPool } from './pool.js'

/** Options `ThreadingMixIn` adds (also fields of the same name). */
export interface ThreadingServerOptions {
  /**
   * The module that exports the handler class, as a URL or absolute path: pass `import.meta.url`
   * from the module that declares it. Each worker thread imports it. Required.
   */
  handlerModule?: string | URL
  /** The name of the export holding the handler class. Default: the export named like the class. */
  handlerExport?: string
  /**
   * Worker threads in the pool. With `threadPerRequest`, the most threads alive at once.
   * Default: `os.availableParallelism()` (pool); `Infinity` (per request, as Python).
   */
  threads?: number
  /**
   * Requests one worker runs at once (its event loop interleaves them); `1` gives each handler a
   * thread of its own, for blocking handlers. Past it in every worker, the serve loop waits and new
   * requests queue (see `maxQueuedRequests`). Default: `Infinity`.
   */
  concurrencyPerThread?: number
  /** Python's exact semantic: a new thread per request, ended when the request is done. Default: `false`. */
  threadPerRequest?: boolean
  /**
   * Python's `daemon_threads`: workers do not keep the process alive, and `serverClose()` does not
   * wait for the requests they run. Default: `false`.
   */
  daemonThreads?: boolean
  /** `resourceLimits` of every worker (heap sizes in MB, stack size). Default: Node's. */
  resourceLimits?: ResourceLimits
  /**
   * After `abortRequests()` (the end of `shutdownGracefully()`), how long a worker whose handlers
   * ignore the abort (CPU-bound) runs before it is terminated, in ms. Default: `1000`.
   */
  abortGrace?: number
}

/** What `ThreadingMixIn` adds to a server. */
export interface ThreadingServer {
  handlerModule: string | URL | undefined
  handlerExport: string | undefined
  threads: number
  concurrencyPerThread: number
  threadPerRequest: boolean
  daemonThreads: boolean
  resourceLimits: ResourceLimits | undefined
  abortGrace: number
  /** The live worker threads (terminate one to see a crash handled). */
  readonly workerThreads: Worker[]
  /** Of `workerThreads`, how many are handling at least one request now (metrics: busy and idle). */
  readonly busyWorkerCount: number
  /** How stream connections reach workers here: `'transfer'` (Node >= 26) or `'proxy'` (MessagePort). */
  readonly streamPath: StreamPath
}

type Args<T> = T extends abstract new (...args: infer A) => unknown ? A : never

/** The class `ThreadingMixIn(Base)` returns: Base's statics, and a constructor taking the thread options too. */
export type ThreadingServerClass<TBase extends ServerConstructor> = Omit<TBase, 'prototype'> &
  (new (
    serverAddress: Args<TBase>[0],
    RequestHandlerClass: Args<TBase>[1],
    options?: NonNullable<Args<TBase>[2]> & ThreadingServerOptions,
  ) => InstanceType<TBase> & ThreadingServer) & { prototype: InstanceType<TBase> & ThreadingServer }

/**
 * Python's `ThreadingMixIn`: request handlers run in worker threads, so a handler that burns CPU
 * or blocks does not stop the server (or the other handlers). The main thread accepts, verifies
 * and hands each request over; a pool of workers (each an event loop serving many requests at
 * once) runs the handlers, or, with `threadPerRequest`, a new thread per request.
 *
 * Handlers run in another thread, so their class must come from a module the worker can import:
 *
 * ```ts
 * export class Hash extends StreamRequestHandler { ... }
 * class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
 * if (!isHandlerWorker()) {
 *   const server = await ThreadingTCPServer.create(address, Hash, { handlerModule: import.meta.url })
 *   await server.serveForever()
 * }
 * ```
 */
export function ThreadingMixIn<TBase extends ServerConstructor>(Base: TBase): ThreadingServerClass<TBase> {
  abstract class ThreadingMixInServer extends Base implements ThreadingServer {
    static readonly options: OptionTable = {
      handlerModule: { check: check.module },
      handlerExport: { check: check.string },
      threads: { check: check.integer({ min: 1, infinite: true }) }, // default: see checkOptions()
      concurrencyPerThread: {
        default: Number.POSITIVE_INFINITY,
        check: check.integer({ min: 1, infinite: true }),
      },
      threadPerRequest: { default: false, check: check.boolean },
      daemonThreads: { default: false, check: check.boolean },
      resourceLimits: { check: check.object },
      abortGrace: { default: 1000, check: check.ms() },
    }

    declare handlerModule: string | URL | undefined
    declare handlerExport: string | undefined
    declare threads: number
    declare concurrencyPerThread: number
    declare threadPerRequest: boolean
    declare daemonThreads: boolean
    declare resourceLimits: ResourceLimits | undefined
    declare abortGrace: number
    #pool: ThreadPool | undefined
    #closed: Promise<void> | undefined

    /** The thread options across each other, before anything is bound, so a wrong setup leaks nothing. */
    protected override checkOptions(): void {
      super.checkOptions()
      rejectRequestServer('ThreadingMixIn', this.RequestHandlerClass)
      if (this.handlerModule === undefined) {
        throw missingHandlerModule('ThreadingMixIn', 'worker threads', this.RequestHandlerClass.name)
      }
      this.threads ??= this.threadPerRequest ? Number.POSITIVE_INFINITY : availableParallelism()
      if (!this.threadPerRequest && !Number.isFinite(this.threads)) {
        throw new InvalidArgumentError('option threads must be finite for a pool (threadPerRequest: false)')
      }
    }

    get workerThreads(): Worker[] {
      return this.#pool?.workers ?? []
    }

    get busyWorkerCount(): number {
      return this.#pool?.busyCount ?? 0
    }

    get streamPath(): StreamPath {
      return this.#pool?.streamPath ?? 'proxy'
    }

    override async serverBind(): Promise<void> {
      if (!isMainThread && isHandlerWorker()) {
        // A module without the guard, imported by a worker for its handler, would start a server
        // (and a pool) in every worker, recursively.
        throw new HandlerModuleError(
          `a ThreadingMixIn server was started inside one of its own handler worker threads: guard the server's start-up with \`if (!isHandlerWorker())\` in the module that exports ${this.RequestHandlerClass.name}`,
        )
      }
      // A stream socket is accepted without reading, so it can move to a worker untouched.
      if (this.transport.socketType === 'stream') this.transport.acceptPaused()
      // Base is abstract to TypeScript (ServerConstructor); the concrete transport's method runs.
      await (Base.prototype as BaseServer).serverBind.call(this)
    }

    /** Activates the transport, then starts the workers; rejects with HandlerModuleError if they cannot load the handler. */
    override async serverActivate(): Promise<void> {
      await (Base.prototype as BaseServer).serverActivate.call(this)
      const transport = this.transport
      this.#pool = new ThreadPool({
        setup: {
          handlerModule: handlerModuleUrl(this.handlerModule!),
          handlerExport: this.handlerExport,
          className: this.RequestHandlerClass.name,
          server: {
            serverAddress: this.serverAddress,
            socketType: this.socketType,
            addressFamily: this.addressFamily,
          },
          closeTimeout: transport.socketType === 'stream' ? transport.closeOptions().closeTimeout : 0,
        },
        threads: this.threads,
        concurrencyPerThread: this.threadPerRequest ? 1 : this.concurrencyPerThread,
        threadPerRequest: this.threadPerRequest,
        daemonThreads: this.daemonThreads,
        resourceLimits: this.resourceLimits,
        owner: this,
        transport,
        shutdown: () => this.shutdown(),
      })
      await this.#pool.start()
    }

    /**
     * Hands the request to a worker and returns at once, so the loop takes the next one; when every
     * worker is at `concurrencyPerThread`, returns a promise that waits for a free slot (meanwhile
     * new requests wait in the queue, and past `maxQueuedRequests` are closed: QueueFullError).
     */
    override processRequest(request: unknown, clientAddress: unknown): Promise<void> | undefined {
      const work = this.#processInWorker(request, clientAddress)
      if (this.daemonThreads)
        work.catch(() => {}) // Python does not join daemon threads at close
      else this.trackRequest(request, clientAddress, work)
      const pool = this.#pool
      if (!pool || pool.hasFreeSlot() || this.closed) return undefined
      return (async () => {
        while (!pool.hasFreeSlot() && !this.closed) await pool.whenSlotMayBeFree()
      })()
    }

    // Python's ThreadingMixIn.process_request_thread, with the handler in a worker.
    async #processInWorker(request: unknown, clientAddress: unknown): Promise<void> {
      try {
        const pool = this.#pool
        if (!pool) throw new InvalidStateError('the server is not activated (no worker threads)')
        const outcome = await pool.run(request, clientAddress)
        if (outcome.exited) {
          this.abortRequest(request) // the worker's sockets died with it; a proxied one lives here
          await this.reportError(request, clientAddress, outcome.exited)
          return
        }
        if (outcome.error) {
          const where = `a worker thread of ${this.constructor.name}`
          try {
            await this.reportError(request, clientAddress, new RemoteHandlerError(outcome.error, where))
          } finally {
            outcome.release?.()
          }
        }
      } catch (error) {
        await this.reportError(request, clientAddress, error)
      }
      try {
        this.shutdownRequest(request)
      } catch {
        // already closed
      }
    }

    /** Cuts a request short; one whose socket moved to a worker is destroyed there. */
    protected override abortRequest(request: unknown): void {
      if (this.#pool?.isTransferred(request)) this.#pool.abort(request)
      else super.abortRequest(request)
    }

    /** Also terminates, after `abortGrace` ms, workers whose handlers ignore the abort. */
    override abortRequests(): number {
      const count = super.abortRequests()
      this.#pool?.terminateBusyAfter(this.abortGrace)
      return count
    }

    /**
     * Closes the listener and the queue; with `blockOnClose` waits for running handlers, then stops
     * every worker thread (none is left once it resolves). Without it, the workers stop in the
     * background once their handlers are done.
     */
    override serverClose(): Promise<void> {
      this.#closed ??= (async () => {
        await super.serverClose()
        const closing = this.#pool?.close()
        if (!closing) return
        if (this.blockOnClose && !this.daemonThreads) await closing
        else closing.catch(() => {})
      })()
      return this.#closed
    }
  }
  // TypeScript makes a class that extends an abstract-typed Base abstract (TS2797); the class is as
  // concrete as Base. Widened to ServerConstructor, it narrows to the declared class type.
  const Mixed: ServerConstructor = ThreadingMixInServer
  return Mixed as ThreadingServerClass<TBase>
}
