import type net from 'node:net'
import type { TLSSocket } from 'node:tls'
import {
  HandlerTimeoutError,
  InvalidStateError,
  RemoteHandlerError,
  WorkerExitedError,
} from '@socketserver/core'
import {
  connectionHandoff,
  publishWorker,
  type Transport,
  tlsDetails,
  Waiters,
  type WorkerEvent,
} from '@socketserver/core/transport'
import { ForkedChild, type Pending, type SpawnOptions } from './forked-child.js'
import { type Bridge, plaintextBridge } from './plaintext-bridge.js'
import type { ToChild, ToParent } from './protocol.js'

export type ForkMode = 'pool' | 'per-request'

export interface ProcessPoolOptions {
  /** How each child is started (handler module, environment, ...). */
  spawn: SpawnOptions
  mode: ForkMode
  processes: number
  maxRequestsPerChild: number
  concurrencyPerChild: number
  maxChildren: number
  spareChildren: number
  handlerTimeout: number | null
  /** The server's transport: how a request's datagram is read and its replies sent. */
  transport: Transport
  /** For the diagnostics channel. */
  owner: unknown
  /** The server's `reportError()`. */
  report(request: unknown, clientAddress: unknown, error: unknown): Promise<void>
  /** The server's own way of cutting a request short (its copy of the socket). */
  abort(request: unknown): void
  /** A handler called `this.server.shutdown()`. */
  shutdown(): void
  /** Whether the server is closed (no new children). */
  isClosed(): boolean
}

/**
 * The child processes of one server: a pool of `processes` children, each handling many requests
 * at once (the fast path), or Python's one new child per request (`per-request`, with optional
 * spares started ahead). A child that dies has its requests reported (`WorkerExitedError`, or
 * `HandlerTimeoutError` when it was killed for overrunning `handlerTimeout`) and, in a pool, is
 * replaced.
 */
export class ProcessPool {
  readonly #options: ProcessPoolOptions
  readonly #children = new Set<ForkedChild>()
  /** Per-request mode: started children not yet given their request. */
  readonly #spares = new Set<ForkedChild>()
  readonly #byRequest = new Map<unknown, { child: ForkedChild; id: number }>()
  readonly #changed = new Waiters()
  #nextId = 1
  #starting: Promise<void> | undefined
  #stopping = false

  constructor(options: ProcessPoolOptions) {
    this.#options = options
  }

  /** Process ids of the children alive now. */
  get activeChildren(): ReadonlySet<number> {
    return new Set([...this.#children].filter((child) => !child.exited).map((child) => child.pid))
  }

  /** Live children handling at least one request now (the rest are idle, or spares). */
  get busyCount(): number {
    let busy = 0
    for (const child of this.#children) if (!child.exited && child.inFlight.size > 0) busy++
    return busy
  }

  /** Starts the pool, or the spare children; rejects with HandlerModuleError if a child cannot load the handler. */
  async start(): Promise<void> {
    if (this.#options.mode === 'pool') await this.#fillPool()
    else await Promise.all(this.#topUpSpares().map((spare) => spare.ready))
  }

  // --- children ---------------------------------------------------------------------------------

  #spawn(): ForkedChild {
    const child = new ForkedChild(this.#options.spawn)
    this.#children.add(child)
    this.#publish(child, 'spawn', { process: child.process })
    child.onMessage = (message) => this.#onChildMessage(child, message)
    void child.exit.then(({ code, signal }) => this.#onChildExit(child, code, signal))
    return child
  }

  #publish(child: ForkedChild, event: WorkerEvent, detail?: unknown): void {
    publishWorker(this.#options.owner, child.pid, 'process', event, detail)
  }

  /** Pool mode: starts children until `processes` are alive and not retiring. */
  #fillPool(): Promise<void> {
    this.#starting ??= (async () => {
      try {
        const fresh: ForkedChild[] = []
        for (let i = this.#liveCount(); i < this.#options.processes; i++) fresh.push(this.#spawn())
        await Promise.all(fresh.map((child) => child.ready))
      } finally {
        this.#starting = undefined
        this.#changed.wake()
      }
    })()
    return this.#starting
  }

  async #pickChild(): Promise<ForkedChild> {
    const { mode, concurrencyPerChild, processes } = this.#options
    if (mode === 'per-request') {
      while (this.atMaxChildren()) await this.#changed.wait()
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
        if (child.exited || child.retiring || !child.isReady || child.load >= concurrencyPerChild) continue
        // Least loaded; on a tie the one given fewest requests, so that idle children take turns.
        if (!best || child.load < best.load || (child.load === best.load && child.assigned < best.assigned))
          best = child
      }
      if (best) return best
      if (this.#stopping) throw new WorkerExitedError('the process pool (closing)', null)
      if (this.#liveCount() < processes) await this.#fillPool()
      else await this.#changed.wait() // every child is at concurrencyPerChild
    }
  }

  /** Per-request mode: no spare is waiting and `maxChildren` children are alive. */
  atMaxChildren(): boolean {
    return this.#spares.size === 0 && this.activeChildren.size >= this.#options.maxChildren
  }

  /** Per-request mode: starts children until `spareChildren` wait, within `maxChildren`. */
  #topUpSpares(): ForkedChild[] {
    const fresh: ForkedChild[] = []
    const { mode, spareChildren, maxChildren } = this.#options
    if (mode !== 'per-request' || this.#stopping || this.#options.isClosed()) return fresh
    while (this.#spares.size < spareChildren && this.activeChildren.size < maxChildren) {
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
  hasCapacity(): boolean {
    if (this.#stopping) return true // the request is dropped at once, not queued
    if (this.#liveCount() < this.#options.processes) return true
    for (const child of this.#children) {
      if (!child.exited && !child.retiring && child.load < this.#options.concurrencyPerChild) return true
    }
    return false
  }

  /** Resolves at the next change of the children: one exited, became ready, or finished a request. */
  nextChange(): Promise<void> {
    return this.#changed.wait()
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
        ? new HandlerTimeoutError(where, this.#options.handlerTimeout ?? 0)
        : new WorkerExitedError(where, code, signal)
      void this.#report(pending, error)
    }
    this.#changed.wake()
    // A pool keeps its size: replace a child that died (not one retired on purpose, which was).
    if (this.#options.mode === 'pool' && !child.retiring && !this.#stopping && !this.#options.isClosed()) {
      this.#publish(child, 'replace')
      this.#fillPool().catch(() => {}) // a failure shows on the next request, which retries
    }
  }

  async #report(pending: Pending, error: unknown): Promise<void> {
    await this.#options.report(pending.request, pending.clientAddress, error)
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
        ;((pending.handle ?? pending.request) as { destroy(): void }).destroy()
        pending.onPassed?.()
        break
      }
      case 'error': {
        const pending = child.inFlight.get(message.id)
        if (!pending) return
        const error = new RemoteHandlerError(message.error, `child process ${child.pid}`)
        void this.#options
          .report(pending.request, pending.clientAddress, error)
          .then(() => child.send({ t: 'handled', id: message.id }))
        break
      }
      case 'done': {
        const pending = child.inFlight.get(message.id)
        if (!pending) return
        child.inFlight.delete(message.id)
        this.#byRequest.delete(pending.request)
        clearTimeout(pending.timer)
        void Promise.allSettled(pending.sends).then(() => pending.resolve())
        this.#changed.wake()
        break
      }
      case 'send': {
        const pending = child.inFlight.get(message.id)
        const sent = this.#sendReply(pending, message)
        pending?.sends.push(sent.catch(() => {}))
        sent.then(
          () => child.send({ t: 'sent', seq: message.seq }),
          (error: unknown) =>
            child.send({ t: 'sent', seq: message.seq, error: RemoteHandlerError.serialize(error) }),
        )
        break
      }
      case 'shutdown':
        this.#options.shutdown()
        break
    }
  }

  /** Sends a child's reply from the server's own socket, so it comes from the server's address. */
  #sendReply(pending: Pending | undefined, message: Extract<ToParent, { t: 'send' }>): Promise<void> {
    const { transport } = this.#options
    if (!pending || transport.socketType !== 'dgram') {
      return Promise.reject(new InvalidStateError('a reply for a request that is no longer in flight'))
    }
    const client = pending.clientAddress as { address: string; port: number }
    const to =
      message.path !== undefined
        ? { path: message.path }
        : { port: message.port ?? client.port, address: message.address ?? client.address }
    try {
      return transport.sendReply(pending.request, message.data, to)
    } catch (error) {
      return Promise.reject(error) // a closed socket may throw rather than reject
    }
  }

  // --- requests ---------------------------------------------------------------------------------

  /** Hands `request` to a child; resolves once the child is done with it (and any error reported). */
  async dispatch(request: unknown, clientAddress: unknown): Promise<void> {
    const { transport } = this.#options
    // A TLS connection terminates here; the child gets its plaintext (made before a child is chosen).
    const tls = tlsDetails(request)
    let bridge: Bridge | undefined
    let child: ForkedChild
    try {
      if (tls && transport.socketType === 'stream')
        bridge = await plaintextBridge(request as TLSSocket, transport.closeOptions())
      child = await this.#pickChild()
    } catch (error) {
      bridge?.socket.destroy()
      this.#abortQuietly(request)
      await this.#options.report(request, clientAddress, error)
      return
    }
    const { mode, handlerTimeout, maxRequestsPerChild } = this.#options
    const id = this.#nextId++
    await new Promise<void>((resolve) => {
      const pending: Pending = { request, clientAddress, resolve, sends: [] }
      if (bridge) Object.assign(pending, { handle: bridge.socket, onPassed: bridge.start })
      const handle = bridge?.socket ?? request
      child.inFlight.set(id, pending)
      this.#byRequest.set(request, { child, id })
      child.assigned++
      if (handlerTimeout !== null && Number.isFinite(handlerTimeout)) {
        pending.timer = setTimeout(() => {
          pending.timedOut = true
          this.#publish(child, 'timeout', { ms: handlerTimeout })
          child.kill('SIGKILL')
        }, handlerTimeout)
      }
      if (transport.socketType === 'stream') {
        // The descriptor moves: bytes read here past a PROXY header travel with it. A TLS
        // connection's bridge carries only plaintext, none of it read here.
        const handoff = connectionHandoff(request as net.Socket, !bridge)
        const message: ToChild = {
          t: 'conn',
          id,
          clientAddress,
          ...(tls && { tls }),
          ...(handoff && { handoff }),
        }
        child.send(message, handle as never, (error) => {
          // Never reached the child (it died meanwhile): the exit handler reports it, or we do.
          if (error && child.inFlight.delete(id)) {
            this.#byRequest.delete(request)
            clearTimeout(pending.timer)
            this.#abortQuietly(request)
            void this.#report(pending, new WorkerExitedError(`child process ${child.pid}`, null))
          }
        })
      } else {
        child.send({ t: 'dgram', id, packet: transport.packetOf(request), clientAddress })
      }
      if (mode === 'per-request' || child.assigned >= maxRequestsPerChild) {
        child.retire()
        if (mode === 'pool' && !this.#stopping) this.#fillPool().catch(() => {})
      }
    })
  }

  #abortQuietly(request: unknown): void {
    try {
      this.#options.abort(request)
    } catch {
      // already closed
    }
  }

  /** Tells the child handling `request` to cut it short (close its connection, drop its reply). */
  abort(request: unknown): void {
    const entry = this.#byRequest.get(request)
    if (entry) entry.child.send({ t: 'abort', id: entry.id })
  }

  /** Python's `collect_children()`: waits below `maxChildren`; with `blocking`, until every child with a request has exited. */
  async collectChildren(blocking: boolean): Promise<void> {
    while (this.atMaxChildren()) await this.#changed.wait()
    // Spares have no request yet: they exit when the server closes, not when collected.
    if (blocking) {
      await Promise.all(
        [...this.#children].filter((child) => !this.#spares.has(child)).map((child) => child.exit),
      )
    }
  }

  /**
   * Stops every child: idle ones retire; with `kill`, one still busy (the wait for its requests was
   * given up) is killed. Resolves once all have exited.
   */
  close(kill: boolean): Promise<void> {
    this.#stopping = true
    this.#changed.wake()
    this.#spares.clear() // idle: retired below with the others
    const children = [...this.#children]
    for (const child of children) {
      // Chosen for a request that has not reached it yet (per-request mode, still starting).
      const starting = child.reserved && child.assigned === 0
      if (kill && (child.inFlight.size > 0 || starting)) child.kill('SIGKILL')
      else if (!starting) child.retire() // a starting one is retired once it has its request
    }
    return Promise.all(children.map((child) => child.exit)).then(() => {})
  }
}
