import net from 'node:net'
import { TLSSocket } from 'node:tls'
import { type ResourceLimits, Worker } from 'node:worker_threads'
import {
  HandlerModuleError,
  InvalidStateError,
  RemoteHandlerError,
  type SerializedError,
  ServerClosedError,
  WorkerExitedError,
} from '@socketserver/core'
import {
  builtEntry,
  connectionHandoff,
  HANDLER_WORKER_MARK,
  publishWorker,
  type Transport,
  Waiters,
  type WorkerEvent,
} from '@socketserver/core/transport'
import { type FromWorker, ownBytes, type ToWorker, type WorkerSetup } from './protocol.js'
import { ProxyLink } from './proxy-link.js'

/**
 * Whether this runtime can move an accepted socket into a worker thread with
 * `postMessage(msg, [socket])` (Node 26; Node 20-24 throw "Found invalid object in transferList").
 */
export const canTransferSockets: boolean = Object.getOwnPropertySymbols(net.Socket.prototype).some(
  (symbol) => symbol.description === 'messaging_transfer_symbol',
)

/** How a stream request reaches its worker. */
export type StreamPath = 'transfer' | 'proxy'

/** How one request ended in its worker. */
export interface Outcome {
  /** The handler threw (serialized in the worker). */
  error?: SerializedError
  /** The worker exited (crashed, was terminated, ran out of memory) before the handler finished. */
  exited?: WorkerExitedError
  /** The worker holds the request's socket open until this is called (after handleError). */
  release?: () => void
}

export interface PoolOptions {
  setup: WorkerSetup
  /** Workers in the pool; in per-request mode, most threads alive at once. */
  threads: number
  concurrencyPerThread: number
  threadPerRequest: boolean
  daemonThreads: boolean
  resourceLimits: ResourceLimits | undefined
  /** For the diagnostics channel. */
  owner: unknown
  /** The server's transport: how a request's datagram is read and its replies sent. */
  transport: Transport
  /** A handler called `this.server.shutdown()`. */
  shutdown(): Promise<void>
}

interface Task {
  id: number
  request: unknown
  worker: PoolWorker
  settle(outcome: Outcome): void
  link?: ProxyLink
  /** The socket itself moved to the worker (Node >= 26). */
  transferred?: boolean
}

class PoolWorker {
  readonly tasks = new Map<number, Task>()
  readonly ready: Promise<void>
  exited = false
  /** Stopped on purpose (pool closed, per-request thread done): its exit replaces nothing. */
  retiring = false
  error: Error | undefined
  /** Kept: `worker.threadId` reads -1 once the thread has exited. */
  readonly threadId: number
  constructor(
    readonly worker: Worker,
    ready: Promise<void>,
  ) {
    this.ready = ready
    this.threadId = worker.threadId
  }
}

const ignore = () => {}

/**
 * The worker threads of one server: a fixed pool (each worker an event loop running up to
 * `concurrencyPerThread` handlers at once) or one new thread per request. Workers that exit while
 * they hold requests have those requests settled with `WorkerExitedError` and are replaced.
 */
export class ThreadPool {
  readonly #options: PoolOptions
  readonly #workers = new Set<PoolWorker>()
  readonly #tasks = new Map<number, Task>()
  readonly #byRequest = new Map<unknown, Task>()
  readonly #changed = new Waiters()
  #nextId = 1
  #closing = false
  #closed: Promise<void> | undefined
  readonly #idle = new Waiters()
  #streamPath: StreamPath = canTransferSockets ? 'transfer' : 'proxy'

  constructor(options: PoolOptions) {
    this.#options = options
  }

  /** How stream requests reach workers on this runtime. */
  get streamPath(): StreamPath {
    return this.#streamPath
  }

  /** The live worker threads. */
  get workers(): Worker[] {
    return [...this.#workers].filter((w) => !w.exited).map((w) => w.worker)
  }

  /** Live workers handling at least one request now (the rest are idle). */
  get busyCount(): number {
    let busy = 0
    for (const entry of this.#workers) if (!entry.exited && entry.tasks.size > 0) busy++
    return busy
  }

  /** Requests being handled in workers right now. */
  get activeCount(): number {
    return this.#tasks.size
  }

  /** Starts the pool (or, per request, one thread that checks the handler loads); rejects with HandlerModuleError. */
  async start(): Promise<void> {
    const count = this.#options.threadPerRequest ? 1 : this.#options.threads
    const started = Array.from({ length: count }, () => this.#spawn())
    const results = await Promise.allSettled(started.map((w) => w.ready))
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined
    if (this.#options.threadPerRequest) for (const w of started) this.#retire(w)
    if (failed) {
      await this.terminate()
      throw failed.reason
    }
  }

  #spawn(): PoolWorker {
    const { setup, resourceLimits, daemonThreads } = this.#options
    // dist/index.js starts dist/worker.js; the sources (under vitest) start the built worker too.
    const worker = new Worker(builtEntry(import.meta.url, 'worker.js', '@socketserver/concurrency-thread'), {
      workerData: { [HANDLER_WORKER_MARK]: true, setup },
      ...(resourceLimits ? { resourceLimits } : {}),
    })
    let readyResolve!: () => void
    let readyReject!: (error: Error) => void
    const ready = new Promise<void>((resolve, reject) => {
      readyResolve = resolve
      readyReject = reject
    })
    ready.catch(ignore)
    const entry = new PoolWorker(worker, ready)
    let isReady = false
    worker.on('message', (message: FromWorker) => {
      if (message.t === 'ready') {
        isReady = true
        readyResolve()
        this.#changed.wake()
      } else if (message.t === 'fatal') {
        readyReject(
          new HandlerModuleError(
            `${message.message}. Export the handler class from a module, pass handlerModule: import.meta.url, and guard the server's start-up with \`if (!isHandlerWorker())\``,
            { cause: message.error ? new RemoteHandlerError(message.error, 'a worker thread') : undefined },
          ),
        )
        entry.retiring = true
        void worker.terminate()
      } else {
        this.#onMessage(entry, message)
      }
    })
    worker.on('error', (error) => {
      entry.error = error
      if (!isReady) {
        readyReject(
          new HandlerModuleError(
            `a worker thread failed while loading the handler: ${error.message}. Check handlerModule and that the module can be imported on its own`,
            { cause: error },
          ),
        )
      }
    })
    worker.on('exit', (code) => this.#onExit(entry, code))
    if (daemonThreads) worker.unref()
    this.#workers.add(entry)
    this.#publish(entry, 'spawn')
    return entry
  }

  #publish(entry: PoolWorker, event: WorkerEvent, detail?: object): void {
    publishWorker(this.#options.owner, entry.worker, 'thread', event, { threadId: entry.threadId, ...detail })
  }

  #onExit(entry: PoolWorker, code: number): void {
    const threadId = entry.threadId
    entry.exited = true
    this.#workers.delete(entry)
    this.#publish(entry, 'exit', { code, error: entry.error })
    if (entry.tasks.size > 0) {
      const where = `worker thread ${threadId}`
      for (const task of entry.tasks.values()) {
        const exited = new WorkerExitedError(where, code)
        if (entry.error) Object.defineProperty(exited, 'cause', { value: entry.error, configurable: true })
        this.#finish(task, { exited })
      }
    }
    if (!entry.retiring && !this.#closing && !this.#options.threadPerRequest) {
      const replacement = this.#spawn()
      this.#publish(replacement, 'replace', { replaced: threadId })
    }
    this.#changed.wake()
  }

  #onMessage(entry: PoolWorker, message: FromWorker): void {
    switch (message.t) {
      case 'done': {
        const task = this.#tasks.get(message.id)
        if (!task) break
        const outcome: Outcome = message.error ? { error: message.error } : {}
        if (message.held) {
          outcome.release = () => {
            if (!entry.exited) entry.worker.postMessage({ t: 'release', id: message.id } satisfies ToWorker)
          }
        }
        this.#finish(task, outcome)
        break
      }
      case 'send': {
        const task = this.#tasks.get(message.id)
        const reply = (error?: unknown) =>
          entry.worker.postMessage({
            t: 'sent',
            sid: message.sid,
            ...(error ? { error: RemoteHandlerError.serialize(error) } : {}),
          } satisfies ToWorker)
        if (!task || this.#options.transport.socketType !== 'dgram') {
          reply(new InvalidStateError('a reply for a request that is no longer being handled'))
          break
        }
        const to =
          message.port === undefined
            ? { path: message.address }
            : { port: message.port, address: message.address }
        this.#options.transport.sendReply(task.request, message.data, to).then(() => reply(), reply)
        break
      }
      case 'shutdown':
        this.#options
          .shutdown()
          .then(
            () => entry.worker.postMessage({ t: 'shutdown-done', sid: message.sid } satisfies ToWorker),
            ignore,
          )
        break
    }
  }

  #finish(task: Task, outcome: Outcome): void {
    if (!this.#tasks.delete(task.id)) return
    this.#byRequest.delete(task.request)
    task.worker.tasks.delete(task.id)
    task.link?.close()
    if (this.#options.threadPerRequest) this.#retire(task.worker)
    task.settle(outcome)
    this.#changed.wake()
    if (this.#tasks.size === 0) this.#idle.wake()
  }

  #retire(entry: PoolWorker): void {
    entry.retiring = true
    if (!entry.exited) void entry.worker.terminate()
  }

  #free(): PoolWorker | undefined {
    let best: PoolWorker | undefined
    for (const entry of this.#workers) {
      if (entry.exited || entry.retiring) continue
      if (entry.tasks.size >= this.#options.concurrencyPerThread) continue
      if (!best || entry.tasks.size < best.tasks.size) best = entry
    }
    return best
  }

  /** Whether a request could start in a worker right now. */
  hasFreeSlot(): boolean {
    if (this.#closing) return false
    if (this.#options.threadPerRequest) return this.#liveCount() < this.#options.threads
    return this.#free() !== undefined
  }

  #liveCount(): number {
    let count = 0
    for (const entry of this.#workers) if (!entry.exited) count++
    return count
  }

  /** Resolves once `hasFreeSlot()` may have changed. */
  whenSlotMayBeFree(): Promise<void> {
    return this.#changed.wait()
  }

  /** Runs `request` in a worker; resolves with how it ended. */
  async run(request: unknown, clientAddress: unknown): Promise<Outcome> {
    let entry: PoolWorker | undefined
    for (;;) {
      if (this.#closing) throw new ServerClosedError()
      if (this.#options.threadPerRequest) {
        if (this.#liveCount() < this.#options.threads) {
          entry = this.#spawn()
          break
        }
      } else {
        entry = this.#free()
        if (entry) break
      }
      await this.whenSlotMayBeFree()
    }
    const id = this.#nextId++
    let settle!: (outcome: Outcome) => void
    const outcome = new Promise<Outcome>((resolve) => (settle = resolve))
    const task: Task = { id, request, worker: entry, settle }
    entry.tasks.set(id, task)
    this.#tasks.set(id, task)
    this.#byRequest.set(request, task)
    try {
      await entry.ready
    } catch (error) {
      // A per-request thread that could not load the handler (it loaded at start: the module changed?).
      this.#finish(task, { error: RemoteHandlerError.serialize(error) })
      return outcome
    }
    if (entry.exited) return outcome // settled by #onExit
    const { transport } = this.#options
    if (transport.socketType === 'dgram') {
      const packet = ownBytes(transport.packetOf(request))
      task.worker.worker.postMessage({ t: 'dgram', id, packet, clientAddress } satisfies ToWorker)
    } else {
      this.#sendStream(task, request as net.Socket, clientAddress)
    }
    return outcome
  }

  #sendStream(task: Task, socket: net.Socket, clientAddress: unknown): void {
    const worker = task.worker.worker
    // A TLSSocket cannot move (its TLS state is this thread's): it is always proxied.
    if (this.#streamPath === 'transfer' && !(socket instanceof TLSSocket)) {
      try {
        worker.postMessage({ t: 'socket', id: task.id, socket, clientAddress } satisfies ToWorker, [
          socket as never,
        ])
        task.transferred = true
        return
      } catch (error) {
        // A socket that is gone cannot move; one something already read from (a PROXY header)
        // cannot either: that one is proxied instead (canTransferSockets said the runtime can).
        if (socket.destroyed) {
          this.#finish(task, { error: RemoteHandlerError.serialize(error) })
          return
        }
      }
    }
    const link = new ProxyLink(socket, (error) => this.#finish(task, error ? { error } : {}))
    task.link = link
    worker.postMessage(
      {
        t: 'proxy',
        id: task.id,
        port: link.remote,
        clientAddress,
        info: ProxyLink.info(socket),
        handoff: connectionHandoff(socket, false),
      } satisfies ToWorker,
      [link.remote],
    )
  }

  /** Whether `request` is being handled in a worker that owns its socket (transferred). */
  isTransferred(request: unknown): boolean {
    return this.#byRequest.get(request)?.transferred === true
  }

  /** Cuts a request short: its worker destroys the socket it owns. */
  abort(request: unknown): void {
    const task = this.#byRequest.get(request)
    if (task && !task.worker.exited)
      task.worker.worker.postMessage({ t: 'abort', id: task.id } satisfies ToWorker)
  }

  /** Terminates the workers still running requests after `graceMs` (handlers deaf to an abort). */
  terminateBusyAfter(graceMs: number): void {
    const busy = [...this.#workers].filter((w) => w.tasks.size > 0)
    if (busy.length === 0) return
    const timer = setTimeout(() => {
      for (const entry of busy) if (entry.tasks.size > 0 && !entry.exited) void entry.worker.terminate()
    }, graceMs)
    timer.unref()
  }

  /** Refuses new requests; once none is running, stops every worker. Resolves when all have exited. */
  close(): Promise<void> {
    this.#closing = true
    this.#changed.wake()
    this.#closed ??= (async () => {
      if (this.#tasks.size > 0) await this.#idle.wait()
      await this.terminate()
    })()
    return this.#closed
  }

  /** Stops every worker now; requests they hold end with WorkerExitedError. */
  async terminate(): Promise<void> {
    this.#closing = true
    const entries = [...this.#workers]
    for (const entry of entries) entry.retiring = true
    await Promise.all(entries.map((entry) => (entry.exited ? undefined : entry.worker.terminate())))
  }
}
