import type { StdioOptions } from 'node:child_process'
import os from 'node:os'
import { type BaseServer, channels, ServerClosedError, type ServerConstructor } from '@socketserver/core'
import {
  check,
  handlerModuleUrl,
  missingHandlerModule,
  type OptionTable,
  rejectRequestServer,
} from '@socketserver/core/transport'
import { defaultChildEnv, defaultExecArgv } from './forked-child.js'
import { type ForkMode, ProcessPool } from './process-pool.js'

export type { ForkMode } from './process-pool.js'

/** Options `ForkingMixIn` adds (also fields of the same name). */
export interface ForkingServerOptions {
  /**
   * The module that exports the handler class, which each child imports: `import.meta.url` of the
   * file that defines it (a `file:` URL, a URL object or a path). Required.
   */
  handlerModule?: string | URL
  /** The export that holds the handler class. Default: the handler class's name. */
  handlerExport?: string
  /**
   * `'pool'`: `processes` children started with the server, each handling many requests at once
   * (the fast path). `'per-request'`: Python's `ForkingMixIn`, one new child per request, at most
   * `maxChildren` at once. Default: `'pool'`.
   */
  forkMode?: ForkMode
  /** Children in the pool. Default: `os.availableParallelism()`. */
  processes?: number
  /** A pool child is replaced after this many requests (it finishes them first). Default: `Infinity`. */
  maxRequestsPerChild?: number
  /**
   * Requests one pool child handles at once; when every child is at it, the serve loop waits and
   * new requests queue (up to `maxQueuedRequests`). `1`: one blocking handler per process. Default: `Infinity`.
   */
  concurrencyPerChild?: number
  /** Per-request mode: children at once; past this the serve loop waits for one to exit. Default: `40` (Python's). */
  maxChildren?: number
  /**
   * Per-request mode: children started ahead, each waiting for the one request it will handle, so
   * that a request does not wait for a Node start-up (Apache prefork's spare servers). They count
   * in `activeChildren` and `maxChildren`. Default: `0` (Python's: a child is started for a request).
   */
  spareChildren?: number
  /** A request running longer than this, in ms, has its child killed and replaced. `null`: no limit. Default: `null`. */
  handlerTimeout?: number | null
  /**
   * The children's environment (the worker mark is always added). Default: only what Node reads
   * (`PATH`, `TZ`, `LANG`, `LC_ALL`, `TMPDIR`, `NODE_OPTIONS`, `NODE_EXTRA_CA_CERTS`); pass
   * `process.env` to hand over everything.
   */
  env?: NodeJS.ProcessEnv
  /** The children's stdin, stdout, stderr (`child_process` stdio). Default: `['ignore', 'inherit', 'inherit']`. */
  stdio?: StdioOptions
  /** Node flags for the children. Default: the parent's `process.execArgv` without `--inspect*`. */
  execArgv?: string[]
}

/** What `ForkingMixIn` adds to a server. */
export interface ForkingServer {
  handlerModule: string | URL | undefined
  handlerExport: string | undefined
  forkMode: ForkMode
  processes: number
  maxRequestsPerChild: number
  concurrencyPerChild: number
  maxChildren: number
  spareChildren: number
  handlerTimeout: number | null
  env: NodeJS.ProcessEnv | undefined
  stdio: StdioOptions
  execArgv: string[] | undefined
  /** Process ids of the children alive now (Python's `active_children`). */
  readonly activeChildren: ReadonlySet<number>
  /** Of `activeChildren`, how many are handling at least one request now (metrics: busy and idle). */
  readonly busyWorkerCount: number
  /**
   * Python's `collect_children()`: waits while `maxChildren` or more children are alive; with
   * `blocking`, until every child has exited. Node reaps exited children itself (no zombie is left
   * to `waitpid`), so this only waits.
   */
  collectChildren(options?: { blocking?: boolean }): Promise<void>
}

/**
 * The class `ForkingMixIn(Base)` returns: `Base`'s statics (`create`, ...) and constructor, whose
 * options also take `ForkingServerOptions`.
 */
export type ForkingServerClass<TBase extends ServerConstructor> = Omit<TBase, 'prototype'> & {
  prototype: InstanceType<TBase> & ForkingServer
  new (
    serverAddress: ConstructorParameters<TBase>[0],
    RequestHandlerClass: ConstructorParameters<TBase>[1],
    options?: ConstructorParameters<TBase>[2] & ForkingServerOptions,
  ): InstanceType<TBase> & ForkingServer
}

/**
 * Python's `ForkingMixIn` on child processes. Node cannot `fork()` a running process, so a child is
 * a new Node process that imports the handler class from `handlerModule`; a stream connection is
 * accepted paused and its socket passed to the child (no byte is read in the parent), a datagram is
 * received by the parent, handled in the child, and the reply sent back from the server's socket.
 *
 * ```ts
 * export class Hash extends StreamRequestHandler { ... }
 * class ForkingTCPServer extends ForkingMixIn(TCPServer) {}
 * if (!isHandlerWorker()) {
 *   const server = await ForkingTCPServer.create(address, Hash, { handlerModule: import.meta.url })
 *   await server.serveForever()
 * }
 * ```
 */
export function ForkingMixIn<TBase extends ServerConstructor>(Base: TBase): ForkingServerClass<TBase> {
  abstract class ForkingMixInServer extends Base implements ForkingServer {
    static readonly options: OptionTable = {
      handlerModule: { check: check.module },
      handlerExport: { check: check.string },
      forkMode: { default: 'pool', check: check.oneOf('pool', 'per-request') },
      processes: { default: () => os.availableParallelism(), check: check.integer({ min: 1 }) },
      maxRequestsPerChild: {
        default: Number.POSITIVE_INFINITY,
        check: check.integer({ min: 1, infinite: true }),
      },
      concurrencyPerChild: {
        default: Number.POSITIVE_INFINITY,
        check: check.integer({ min: 1, infinite: true }),
      },
      maxChildren: { default: 40, check: check.integer({ min: 1, infinite: true }) },
      spareChildren: { default: 0, check: check.integer() },
      handlerTimeout: { default: null, check: check.ms({ nullable: true }) },
      env: { check: check.object },
      stdio: { default: () => ['ignore', 'inherit', 'inherit'], check: check.data },
      execArgv: { check: check.stringArray },
    }

    declare handlerModule: string | URL | undefined
    declare handlerExport: string | undefined
    declare forkMode: ForkMode
    declare processes: number
    declare maxRequestsPerChild: number
    declare concurrencyPerChild: number
    declare maxChildren: number
    declare spareChildren: number
    declare handlerTimeout: number | null
    declare env: NodeJS.ProcessEnv | undefined
    declare stdio: StdioOptions
    declare execArgv: string[] | undefined
    #pool: ProcessPool | undefined
    #closing: Promise<void> | undefined

    /** The fork options across each other, before anything binds. */
    protected override checkOptions(): void {
      super.checkOptions()
      rejectRequestServer('ForkingMixIn', this.RequestHandlerClass)
      if (this.handlerModule === undefined) {
        throw missingHandlerModule('ForkingMixIn', 'child processes', this.RequestHandlerClass.name)
      }
      if (!this.handlerExport && !this.RequestHandlerClass.name) {
        throw missingHandlerModule('ForkingMixIn', 'child processes', '')
      }
      handlerModuleUrl(this.handlerModule) // a relative path fails here, not in a child
    }

    get activeChildren(): ReadonlySet<number> {
      return this.#pool?.activeChildren ?? new Set()
    }

    get busyWorkerCount(): number {
      return this.#pool?.busyCount ?? 0
    }

    override async serverBind(): Promise<void> {
      // Accept connections paused: the socket goes to a child with no byte read here.
      if (this.transport.socketType === 'stream') this.transport.acceptPaused()
      await (Base.prototype as BaseServer).serverBind.call(this)
    }

    /** Activates the transport, then starts the pool (or the spares), so that a wrong handlerModule fails create() at once. */
    override async serverActivate(): Promise<void> {
      await (Base.prototype as BaseServer).serverActivate.call(this)
      const transport = this.transport
      const close =
        transport.socketType === 'stream' ? transport.closeOptions() : { closeTimeout: 0, lingerTimeout: 0 }
      this.#pool = new ProcessPool({
        spawn: {
          handlerModule: handlerModuleUrl(this.handlerModule!),
          handlerExport: this.handlerExport,
          className: this.RequestHandlerClass.name,
          kind:
            transport.socketType === 'stream'
              ? 'stream'
              : transport.addressKind === 'unix'
                ? 'unix-dgram'
                : 'udp',
          serverAddress: this.serverAddress,
          closeTimeout: close.closeTimeout,
          lingerTimeout: close.lingerTimeout,
          env: this.env ?? defaultChildEnv(),
          stdio: this.stdio,
          execArgv: this.execArgv ?? defaultExecArgv(),
        },
        mode: this.forkMode,
        processes: this.processes,
        maxRequestsPerChild: this.maxRequestsPerChild,
        concurrencyPerChild: this.concurrencyPerChild,
        maxChildren: this.maxChildren,
        spareChildren: this.spareChildren,
        handlerTimeout: this.handlerTimeout,
        transport,
        owner: this,
        report: (request, clientAddress, error) => this.reportError(request, clientAddress, error),
        abort: (request) => super.abortRequest(request),
        shutdown: () => void this.shutdown(),
        isClosed: () => this.closed,
      })
      await this.#pool.start()
    }

    override processRequest(request: unknown, clientAddress: unknown): Promise<void> | undefined {
      const pool = this.#pool
      if (pool && this.forkMode === 'per-request' && pool.atMaxChildren()) {
        // Python's collect_children(): the serve loop waits for a child to exit.
        return this.collectChildren().then(() => this.#processLater(request, clientAddress))
      }
      if (pool && this.forkMode === 'pool' && !pool.hasCapacity()) {
        // Every child is at concurrencyPerChild: the serve loop waits, new requests queue.
        return pool.nextChange().then(() => this.#processLater(request, clientAddress))
      }
      this.trackRequest(request, clientAddress, this.#dispatch(request, clientAddress))
      return undefined
    }

    #dispatch(request: unknown, clientAddress: unknown): Promise<void> {
      if (this.#pool) return this.#pool.dispatch(request, clientAddress)
      this.abortRequest(request)
      return this.reportError(request, clientAddress, new ServerClosedError())
    }

    /**
     * A request the serve loop took, then waited with for a child: if the server closed meanwhile it
     * is dropped, as the requests still queued were (Python's server_close()).
     */
    #processLater(request: unknown, clientAddress: unknown): Promise<void> | undefined {
      if (!this.closed) return this.processRequest(request, clientAddress)
      if (channels.requestDropped.hasSubscribers) {
        channels.requestDropped.publish({
          server: this,
          request,
          clientAddress,
          reason: new ServerClosedError(),
        })
      }
      try {
        this.abortRequest(request)
      } catch {
        // already closed
      }
      return undefined
    }

    /** Cuts a request short: its child closes the connection (or drops the reply). */
    protected override abortRequest(request: unknown): void {
      this.#pool?.abort(request)
      super.abortRequest(request)
    }

    async collectChildren({ blocking = false }: { blocking?: boolean } = {}): Promise<void> {
      await this.#pool?.collectChildren(blocking)
    }

    override async serviceActions(): Promise<void> {
      await super.serviceActions()
      if (this.forkMode === 'per-request') await this.collectChildren()
    }

    override async handleTimeout(): Promise<void> {
      await super.handleTimeout()
      if (this.forkMode === 'per-request') await this.collectChildren()
    }

    /**
     * Closes the listener and, with `blockOnClose`, waits for the requests in flight; then every
     * child exits (once idle; one still busy after the wait was given up is killed). With
     * `blockOnClose` the children have exited when this resolves; without, they exit once their
     * requests are done.
     */
    override serverClose(): Promise<void> {
      this.#closing ??= (async () => {
        await super.serverClose()
        const exited = this.#pool?.close(this.blockOnClose)
        if (this.blockOnClose) await exited
      })()
      return this.#closing
    }
  }
  // TypeScript makes a class that extends an abstract-typed Base abstract (TS2797); the class is as
  // concrete as Base. Widened to ServerConstructor, it narrows to the declared class type.
  const Mixed: ServerConstructor = ForkingMixInServer
  return Mixed as ForkingServerClass<TBase>
}
