import type { StdioOptions } from 'node:child_process'
import os from 'node:os'
import { pathToFileURL } from 'node:url'
import {
  channels,
  HandlerModuleError,
  HandlerTimeoutError,
  InvalidArgumentError,
  RemoteHandlerError,
  ServerClosedError,
  type ServerConstructor,
  WorkerExitedError,
} from '@socketserver/core'
import { defaultChildEnv, defaultExecArgv, ForkedChild, type Pending } from './forked-child.js'
import type { RequestKind, ToParent } from './protocol.js'

export type ForkMode = 'pool' | 'per-request'

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

type Hooks = {
  processRequest(request: unknown, clientAddress: unknown): Promise<void> | void
  serverActivate(): Promise<void> | void
  serverClose(): Promise<void>
  serviceActions(): Promise<void> | void
  handleTimeout(): Promise<void> | void
  readonly socketType: 'stream' | 'dgram'
  readonly addressFamily: string | undefined
  serverAddress: unknown
  RequestHandlerClass: { name: string }
  closeTimeout?: number
  lingerTimeout?: number
  closed: boolean
  shutdown(): Promise<void>
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
  abstract class ForkingMixInServer extends (Base as unknown as ServerConstructor) implements ForkingServer {
    handlerModule: string | URL | undefined = undefined
    handlerExport: string | undefined = undefined
    forkMode: ForkMode = 'pool'
    processes = os.availableParallelism()
    maxRequestsPerChild = Number.POSITIVE_INFINITY
    concurrencyPerChild = Number.POSITIVE_INFINITY
    maxChildren = 40
    spareChildren = 0
    handlerTimeout: number | null = null
    env: NodeJS.ProcessEnv | undefined = undefined
    stdio: StdioOptions = ['ignore', 'inherit', 'inherit']
    execArgv: string[] | undefined = undefined

    readonly #children = new Set<ForkedChild>()
    /** Per-request mode: started children not yet given their request. */
    readonly #spares = new Set<ForkedChild>()
    readonly #byRequest = new Map<unknown, { child: ForkedChild; id: number }>()
    #nextId = 1
    #starting: Promise<void> | undefined
    #stopping: Promise<void> | undefined
    #waiters: Array<() => void> = []

    constructor(...args: any[]) {
      super(...args)
      this.applyOptions() // the field initialisers above ran after BaseServer copied the options
      // Accept connections paused: the socket goes to a child with no byte read here.
      ;(this as unknown as { pauseOnAccept: boolean }).pauseOnAccept = true
      this.#check()
    }

    #check(): void {
      if (this.handlerModule === undefined || this.handlerModule === '') {
        const name = this.#hooks.RequestHandlerClass.name || 'the handler class'
        throw new HandlerModuleError(
          `ForkingMixIn needs handlerModule: children import ${name} from it. Export ${name} from its module, pass { handlerModule: import.meta.url } (from that module), and guard the server's start-up there with if (!isHandlerWorker())`,
        )
      }
      if (!this.handlerExport && !this.#hooks.RequestHandlerClass.name) {
        throw new HandlerModuleError(
          'ForkingMixIn needs the export name of an anonymous handler class: pass { handlerExport: "<its export name>" }',
        )
      }
      if (this.forkMode !== 'pool' && this.forkMode !== 'per-request') {
        throw new InvalidArgumentError(
          `forkMode must be 'pool' or 'per-request'; got ${JSON.stringify(this.forkMode)}`,
        )
      }
      if (!(Number.isInteger(this.processes) && this.processes > 0)) {
        throw new InvalidArgumentError(`processes must be a positive integer; got ${this.processes}`)
      }
      if (!(this.maxChildren > 0))
        throw new InvalidArgumentError(`maxChildren must be positive; got ${this.maxChildren}`)
      if (!(Number.isInteger(this.spareChildren) && this.spareChildren >= 0)) {
        throw new InvalidArgumentError(`spareChildren must be a whole number; got ${this.spareChildren}`)
      }
      if (!(this.concurrencyPerChild >= 1)) {
        throw new InvalidArgumentError(
          `concurrencyPerChild must be at least 1; got ${this.concurrencyPerChild}`,
        )
      }
      if (!(this.maxRequestsPerChild > 0)) {
        throw new InvalidArgumentError(
          `maxRequestsPerChild must be positive; got ${this.maxRequestsPerChild}`,
        )
      }
    }

    get #hooks(): Hooks {
      return this as unknown as Hooks
    }

    get activeChildren(): ReadonlySet<number> {
      return new Set([...this.#children].filter((child) => !child.exited).map((child) => child.pid))
    }

    get #kind(): RequestKind {
      if (this.#hooks.socketType === 'stream') return 'stream'
      return this.#hooks.addressFamily === 'Unix' ? 'unix-dgram' : 'udp'
    }

    // --- children -------------------------------------------------------------------------------

    #spawn(): ForkedChild {
      const handlerModule = this.handlerModule!
      const moduleUrl =
        handlerModule instanceof URL
          ? handlerModule.href
          : /^[a-z][a-z0-9+.-]*:/i.test(handlerModule)
            ? handlerModule
            : pathToFileURL(handlerModule).href
      const child = new ForkedChild({
        handlerModule: moduleUrl,
        handlerExport: this.handlerExport ?? this.#hooks.RequestHandlerClass.name,
        kind: this.#kind,
        serverAddress: this.#hooks.serverAddress,
        closeTimeout: this.#hooks.closeTimeout ?? 30_000,
        lingerTimeout: this.#hooks.lingerTimeout ?? 2_000,
        env: this.env ?? defaultChildEnv(),
        stdio: this.stdio,
        execArgv: this.execArgv ?? defaultExecArgv(),
      })
      this.#children.add(child)
      this.#publish(child, 'spawn', { process: child.process })
      child.onMessage = (message) => this.#onChildMessage(child, message)
      void child.exit.then(({ code, signal }) => this.#onChildExit(child, code, signal))
      return child
    }

    #publish(child: ForkedChild, event: 'spawn' | 'exit' | 'replace' | 'timeout', detail?: unknown): void {
      if (channels.worker.hasSubscribers) {
        channels.worker.publish({ server: this, worker: child.pid, kind: 'process', event, detail })
      }
    }

    /** Pool mode: starts children until `processes` are alive and not retiring. */
    #fillPool(): Promise<void> {
      this.#starting ??= (async () => {
        try {
          const fresh: ForkedChild[] = []
          for (let i = this.#liveCount(); i < this.processes; i++) fresh.push(this.#spawn())
          await Promise.all(fresh.map((child) => child.ready))
        } finally {
          this.#starting = undefined
          this.#wake()
        }
      })()
      return this.#starting
    }

    async #pickChild(): Promise<ForkedChild> {
      if (this.forkMode === 'per-request') {
        while (this.#atMaxChildren()) await this.#nextChange()
        let child =
          [...this.#spares].find((spare) => spare.isReady && !spare.retiring) ??
          this.#spares.values().next().value
        if (child) this.#spares.delete(child)
        else child = this.#spawn()
        child.reserved = true
        this.#topUpSpares()
        await child.ready
        return child
      }
      for (;;) {
        let best: ForkedChild | undefined
        for (const child of this.#children) {
          if (child.exited || child.retiring || !child.isReady || child.load >= this.concurrencyPerChild)
            continue
          // Least loaded; on a tie the one given fewest requests, so that idle children take turns.
          if (!best || child.load < best.load || (child.load === best.load && child.assigned < best.assigned))
            best = child
        }
        if (best) return best
        if (this.#stopping) throw new WorkerExitedError('the process pool (closing)', null)
        if (this.#liveCount() < this.processes) await this.#fillPool()
        else await this.#nextChange() // every child is at concurrencyPerChild
      }
    }

    /** Per-request mode: no spare is waiting and `maxChildren` children are alive. */
    #atMaxChildren(): boolean {
      return this.#spares.size === 0 && this.activeChildren.size >= this.maxChildren
    }

    /** Per-request mode: starts children until `spareChildren` wait, within `maxChildren`. */
    #topUpSpares(): ForkedChild[] {
      const fresh: ForkedChild[] = []
      if (this.forkMode !== 'per-request' || this.#stopping || this.#hooks.closed) return fresh
      while (this.#spares.size < this.spareChildren && this.activeChildren.size < this.maxChildren) {
        const spare = this.#spawn()
        this.#spares.add(spare)
        fresh.push(spare)
      }
      return fresh
    }

    /** Pool children alive and taking requests (ready or starting). */
    #liveCount(): number {
      let count = 0
      for (const child of this.#children) if (!child.exited && !child.retiring) count++
      return count
    }

    /** Whether a new request would find a pool child below concurrencyPerChild (or one starting). */
    #hasCapacity(): boolean {
      if (this.#liveCount() < this.processes) return true
      for (const child of this.#children) {
        if (!child.exited && !child.retiring && child.load < this.concurrencyPerChild) return true
      }
      return false
    }

    /** Resolves at the next change of the children: one exited, became ready, or finished a request. */
    #nextChange(): Promise<void> {
      return new Promise((resolve) => this.#waiters.push(resolve))
    }

    #wake(): void {
      const waiters = this.#waiters
      this.#waiters = []
      for (const wake of waiters) wake()
    }

    #onChildExit(child: ForkedChild, code: number | null, signal: NodeJS.Signals | null): void {
      this.#children.delete(child)
      // A spare that died after starting is replaced; one that could not load the handler is not
      // (the next request starts one, and reports the error), so a broken module cannot loop.
      if (this.#spares.delete(child) && child.isReady) this.#topUpSpares()
      this.#publish(child, 'exit', { code, signal })
      const where = `child process ${child.pid}`
      for (const [id, pending] of child.inFlight) {
        child.inFlight.delete(id)
        this.#byRequest.delete(pending.request)
        clearTimeout(pending.timer)
        // Our copy of a socket the child had not confirmed yet; one it had, died with it.
        if (!pending.passed) this.#abortQuietly(pending.request)
        const error = pending.timedOut
          ? new HandlerTimeoutError(where, this.handlerTimeout ?? 0)
          : new WorkerExitedError(where, code, signal)
        void this.#report(pending, error)
      }
      this.#wake()
      // A pool keeps its size: replace a child that died (not one retired on purpose, which was).
      if (this.forkMode === 'pool' && !child.retiring && !this.#stopping && !this.#hooks.closed) {
        this.#publish(child, 'replace')
        this.#fillPool().catch(() => {}) // a failure shows on the next request, which retries
      }
    }

    async #report(pending: Pending, error: unknown): Promise<void> {
      await this.reportError(pending.request, pending.clientAddress, error)
      await Promise.allSettled(pending.sends)
      pending.resolve()
    }

    #onChildMessage(child: ForkedChild, message: ToParent): void {
      switch (message.t) {
        case 'got': {
          const pending = child.inFlight.get(message.id)
          if (!pending) return
          pending.passed = true
          // The child has the connection now; only its copy must stay open.
          ;(pending.request as { destroy(): void }).destroy()
          break
        }
        case 'error': {
          const pending = child.inFlight.get(message.id)
          if (!pending) return
          const error = new RemoteHandlerError(message.error, `child process ${child.pid}`)
          void this.reportError(pending.request, pending.clientAddress, error).then(() =>
            child.send({ t: 'handled', id: message.id }),
          )
          break
        }
        case 'done': {
          const pending = child.inFlight.get(message.id)
          if (!pending) return
          child.inFlight.delete(message.id)
          this.#byRequest.delete(pending.request)
          clearTimeout(pending.timer)
          void Promise.allSettled(pending.sends).then(() => pending.resolve())
          this.#wake()
          break
        }
        case 'send': {
          const pending = child.inFlight.get(message.id)
          const sent = this.#sendDatagram(pending, message)
          pending?.sends.push(sent.catch(() => {}))
          sent.then(
            () => child.send({ t: 'sent', seq: message.seq }),
            (error: unknown) =>
              child.send({ t: 'sent', seq: message.seq, error: RemoteHandlerError.serialize(error) }),
          )
          break
        }
        case 'shutdown':
          void this.#hooks.shutdown()
          break
      }
    }

    /** Sends a child's reply from the server's own socket, so it comes from the server's address. */
    #sendDatagram(pending: Pending | undefined, message: Extract<ToParent, { t: 'send' }>): Promise<void> {
      if (!pending) return Promise.reject(new Error('the request is no longer in flight'))
      const socket = (pending.request as [Buffer, any])[1]
      const data = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.length)
      if (message.path !== undefined) {
        try {
          return Promise.resolve(socket.send(data, message.path))
        } catch (error) {
          return Promise.reject(error) // a closed socket may throw rather than reject
        }
      }
      const client = pending.clientAddress as { address: string; port: number }
      return new Promise<void>((resolve, reject) => {
        socket.send(
          data,
          message.port ?? client.port,
          message.address ?? client.address,
          (error: Error | null) => (error ? reject(error) : resolve()),
        )
      })
    }

    // --- hooks ----------------------------------------------------------------------------------

    override async serverActivate(): Promise<void> {
      await (Base.prototype as unknown as Hooks).serverActivate.call(this)
      this.#check()
      // The pool starts with the server, so that a wrong handlerModule fails create() at once.
      if (this.forkMode === 'pool') await this.#fillPool()
      else await Promise.all(this.#topUpSpares().map((spare) => spare.ready))
    }

    override processRequest(request: unknown, clientAddress: unknown): Promise<void> | undefined {
      if (this.forkMode === 'per-request' && this.#atMaxChildren()) {
        // Python's collect_children(): the serve loop waits for a child to exit.
        return this.collectChildren().then(() => this.#processLater(request, clientAddress))
      }
      if (this.forkMode === 'pool' && !this.#hasCapacity() && !this.#stopping) {
        // Every child is at concurrencyPerChild: the serve loop waits, new requests queue.
        return this.#nextChange().then(() => this.#processLater(request, clientAddress))
      }
      this.trackRequest(request, clientAddress, this.#dispatch(request, clientAddress))
      return undefined
    }

    /**
     * A request the serve loop took, then waited with for a child: if the server closed meanwhile it
     * is dropped, as the requests still queued were (Python's server_close()).
     */
    #processLater(request: unknown, clientAddress: unknown): Promise<void> | undefined {
      if (!this.#hooks.closed) return this.processRequest(request, clientAddress)
      if (channels.requestDropped.hasSubscribers) {
        channels.requestDropped.publish({
          server: this,
          request,
          clientAddress,
          reason: new ServerClosedError(),
        })
      }
      this.#abortQuietly(request)
      return undefined
    }

    async #dispatch(request: unknown, clientAddress: unknown): Promise<void> {
      let child: ForkedChild
      try {
        child = await this.#pickChild()
      } catch (error) {
        this.#abortQuietly(request)
        await this.reportError(request, clientAddress, error)
        return
      }
      const id = this.#nextId++
      await new Promise<void>((resolve) => {
        const pending: Pending = { request, clientAddress, resolve, sends: [] }
        child.inFlight.set(id, pending)
        this.#byRequest.set(request, { child, id })
        child.assigned++
        if (this.handlerTimeout !== null && Number.isFinite(this.handlerTimeout)) {
          pending.timer = setTimeout(() => {
            pending.timedOut = true
            this.#publish(child, 'timeout', { ms: this.handlerTimeout })
            child.kill('SIGKILL')
          }, this.handlerTimeout)
        }
        if (this.#kind === 'stream') {
          child.send({ t: 'conn', id, clientAddress }, request, (error) => {
            // Never reached the child (it died meanwhile): the exit handler reports it, or we do.
            if (error && child.inFlight.delete(id)) {
              this.#byRequest.delete(request)
              clearTimeout(pending.timer)
              this.#abortQuietly(request)
              void this.#report(pending, new WorkerExitedError(`child process ${child.pid}`, null))
            }
          })
        } else {
          const [packet] = request as [Buffer]
          child.send({ t: 'dgram', id, packet, clientAddress })
        }
        if (this.forkMode === 'per-request' || child.assigned >= this.maxRequestsPerChild) {
          child.retire()
          if (this.forkMode === 'pool' && !this.#stopping) this.#fillPool().catch(() => {})
        }
      })
    }

    #abortQuietly(request: unknown): void {
      try {
        ;(this as unknown as { abortRequest(request: unknown): void }).abortRequest(request)
      } catch {
        // already closed
      }
    }

    /** Cuts a request short: its child closes the connection (or drops the reply). */
    protected override abortRequest(request: unknown): void {
      const entry = this.#byRequest.get(request)
      if (entry) entry.child.send({ t: 'abort', id: entry.id })
      super.abortRequest(request)
    }

    async collectChildren({ blocking = false }: { blocking?: boolean } = {}): Promise<void> {
      while (this.#atMaxChildren()) await this.#nextChange()
      // Spares have no request yet: they exit when the server closes, not when collected.
      if (blocking) {
        await Promise.all(
          [...this.#children].filter((child) => !this.#spares.has(child)).map((child) => child.exit),
        )
      }
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
      this.#stopping ??= (async () => {
        await super.serverClose()
        this.#spares.clear() // idle: retired below with the others
        const children = [...this.#children]
        for (const child of children) {
          // Chosen for a request that has not reached it yet (per-request mode, still starting).
          const starting = child.reserved && child.assigned === 0
          // With blockOnClose the requests are done by now, unless the wait was given up (end of
          // shutdownGracefully): then a child still busy is stopped.
          if (this.blockOnClose && (child.inFlight.size > 0 || starting)) child.kill('SIGKILL')
          else if (!starting) child.retire() // a starting one is retired once it has its request
        }
        if (this.blockOnClose) await Promise.all(children.map((child) => child.exit))
      })()
      return this.#stopping
    }
  }
  return ForkingMixInServer as unknown as ForkingServerClass<TBase>
}
