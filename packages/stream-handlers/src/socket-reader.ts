import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import {
  ConnectionClosedError,
  InvalidStateError,
  LineTooLongError,
  ReadLimitError,
  SocketTimeoutError,
} from '@socketserver/core'
import {
  ignoreSocketError,
  kWatchStep,
  offerStepPromise,
  settleStep,
  type WatchedStep,
} from '@socketserver/core/transport'
import { kSocket, type SocketWriter } from './socket-writer.js'

export interface SocketReaderOptions {
  /** Longest line `readline()` returns, in bytes, newline included. Default: `65536`. */
  maxLineLength?: number
  /** Most `read()` (to end of stream) may buffer, in bytes. Default: `16777216` (16 MiB). */
  maxReadSize?: number
  /** Longest a read may wait for data, in ms; then it rejects with `SocketTimeoutError`. `null`: forever. Default: `null`. */
  timeout?: number | null
  /** Bytes read ahead of the handler before the socket is paused. Default: `65536`. */
  highWaterMark?: number
}

const EMPTY = Buffer.alloc(0)
const NEWLINE = 0x0a
const ONE_READ = 'SocketReader: one read at a time (await the read under way first)'
const OPTIONS = ['maxLineLength', 'maxReadSize', 'timeout', 'highWaterMark'] as const
type Mutable<T> = { -readonly [K in keyof T]: T[K] }
// The buffer of a reader that has never had to keep a chunk: shared, never written to (an idle
// connection whose reads are waiting keeps no array of its own).
const NO_CHUNKS: Buffer[] = []

// What a read that has to wait will accept: `undefined` means "not yet". Called with the reader
// as `this`: every kind of read waits with a method shared by every reader, never a closure (its
// argument, a limit, waits in the reader's #limit).
interface Attempt {
  call(reader: SocketReader): Buffer | IteratorResult<Buffer> | undefined
}
const COPYING: Attempt = () => undefined
const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true })

// The reader's flags, in one field (an idle connection keeps its reader).
const EOF = 1
const CLOSED = 2
const PAUSED = 4
const DRAINING = 8
const HOLDS_ERRORS = 16 // took the place of the socket's ignoreSocketError

// The reader that takes a source's events. The listeners are functions shared by every reader
// that find their reader here: closures per reader were most of an idle connection's cost.
const kReader = Symbol('socketserver.reader')
type Source = Readable & { [kReader]?: SocketReader | undefined }

interface Listeners {
  data: (chunk: Buffer) => void
  end: () => void
  error: (error: Error) => void
}
let SHARED: Listeners // set by SocketReader's static block, where its private methods are in reach
// The same, for LineIterator.
let nextLine: (reader: SocketReader, iterator: LineIterator) => Promise<IteratorResult<Buffer>>
let lineResult: (reader: SocketReader) => IteratorResult<Buffer> | undefined
// Closures of their own, for a reader made while another one still reads the same source (rare:
// kept here rather than in a field every reader would carry).
const OWN_LISTENERS = new WeakMap<SocketReader, Listeners>()

// One executor for every promise a reader makes: it hands its resolve function over through this,
// so that no executor closure (and context) is made per read. Only `resolve` is kept: a failure
// resolves with a rejected promise, which the reject function (and its slot) would cost every
// waiting reader for the rare error.
let resolveNext: ((value: any) => void) | undefined
function capture(resolve: (value: any) => void): void {
  resolveNext = resolve
}

const indexOfByte = Uint8Array.prototype.indexOf
/** Whether `chunk` ends in its first newline: V8's own indexOf, no call into Node's C++ for 64 bytes. */
function isOneLine(chunk: Buffer): boolean {
  return chunk[chunk.length - 1] === NEWLINE && indexOfByte.call(chunk, NEWLINE) === chunk.length - 1
}

/**
 * Python's `rfile`: a buffered reader over a socket. It takes the socket's `'data'` events (the
 * fastest path Node has) and pauses the socket once `highWaterMark` bytes wait unread, so memory
 * stays bounded by that plus the largest line or read asked for; a read that needs more resumes it.
 */
export class SocketReader implements AsyncIterable<Buffer> {
  // Defaults on the prototype (set in the static block); a reader given other values has its own.
  declare readonly maxLineLength: number
  declare readonly maxReadSize: number
  declare readonly timeout: number | null
  declare readonly highWaterMark: number
  readonly #source: Readable
  #chunks: Buffer[] = NO_CHUNKS
  #length = 0
  #scanned = 0 // leading bytes already searched for a newline
  #flags = 0 // EOF | CLOSED | PAUSED | DRAINING
  #error: Error | undefined
  // The one read waiting for data (a reader has one consumer: its handler).
  #attempt: Attempt | undefined
  #limit = 0 // the waiting read's limit: read1()'s n, readline()'s line length, read(n)'s n
  // Settles the waiting read's promise; or is copyTo()'s (which resolves with a count).
  #resolve: ((value: any) => void) | PendingCopy | undefined
  // The handler step that returned that promise and waits for it with no reaction (offerStepPromise).
  #step: WatchedStep | undefined
  #timer: NodeJS.Timeout | undefined
  // copyTo(): the socket it writes to (DRAINING: it waits for its 'drain'), what it has copied,
  // and a count of copies, which tells a 'drain' that comes late from one for the copy under way.
  #copy: Socket | undefined
  #copied = 0
  #copies = 0

  constructor(source: Readable, options: SocketReaderOptions = {}) {
    this.#source = source
    const defaults = SocketReader.prototype as Mutable<SocketReader>
    for (const key of OPTIONS) {
      const value = options[key]
      if (value !== undefined && value !== defaults[key])
        (this as Mutable<SocketReader>)[key] = value as never
    }
    if (source.readableEnded || source.destroyed) this.#flags = EOF
    const owner = (source as Source)[kReader]
    let listeners: Listeners = SHARED
    if (owner === undefined || owner.#flags & CLOSED) (source as Source)[kReader] = this
    else {
      listeners = {
        data: (chunk) => this.#onData(chunk),
        end: () => this.#onEnd(),
        error: (error) => this.#onError(error),
      }
      OWN_LISTENERS.set(this, listeners)
    }
    source.on('data', listeners.data)
    source.on('end', listeners.end)
    source.on('close', listeners.end)
    // A server's socket has core's ignoreSocketError listener (no error may crash the process): the
    // reader takes its place while attached, rather than make the listeners an array per connection.
    if (source.listenerCount('error', ignoreSocketError) > 0) {
      source.off('error', ignoreSocketError)
      this.#flags |= HOLDS_ERRORS
    }
    source.on('error', listeners.error)
    source.resume() // also for sockets accepted with pauseOnConnect
  }

  /** Bytes buffered here and not yet returned. */
  get buffered(): number {
    return this.#length
  }

  /**
   * One line, ending in `\n`; the rest of the stream at end of stream; an empty Buffer after it.
   * A line longer than `limit` bytes rejects with `LineTooLongError` (the bytes stay buffered).
   */
  readline({ limit = this.maxLineLength }: { limit?: number } = {}): Promise<Buffer> {
    return this.#read(this.#lineAttempt, limit)
  }

  /**
   * `n` bytes, or fewer only at end of stream. Without `n`, everything up to end of stream
   * (rejecting with `ReadLimitError` past `maxReadSize`).
   */
  read(n?: number): Promise<Buffer> {
    if (n === undefined || n < 0) return this.#read(this.#allAttempt, this.maxReadSize)
    return this.#read(this.#exactAttempt, n)
  }

  /** Whatever is available, at least one byte and at most `n`, waiting only if nothing is; empty at end of stream. */
  read1(n = Number.POSITIVE_INFINITY): Promise<Buffer> {
    if (this.#length > 0) return Promise.resolve(this.#takeFirst(n))
    return this.#read(this.#read1Attempt, n)
  }

  // The attempts: shared methods, the read's limit in #limit (so a wait makes no closure).
  #lineAttempt(): Buffer | undefined {
    const limit = this.#limit
    const index = this.#indexOfNewline()
    if (index >= 0) {
      if (index + 1 > limit) throw new LineTooLongError(limit)
      return this.#take(index + 1)
    }
    if (this.#length > limit) throw new LineTooLongError(limit)
    return this.#flags & EOF ? this.#take(this.#length) : undefined
  }

  // for await: the next line as an iterator result; done at end of stream.
  #nextAttempt(): IteratorResult<Buffer> | undefined {
    const line = this.#lineAttempt()
    if (line === undefined) return undefined
    return line.length === 0 ? DONE : { value: line, done: false }
  }

  #allAttempt(): Buffer | undefined {
    if (this.#length > this.#limit) throw new ReadLimitError(this.#limit)
    return this.#flags & EOF ? this.#take(this.#length) : undefined
  }

  #exactAttempt(): Buffer | undefined {
    const n = this.#limit
    return this.#length >= n || this.#flags & EOF ? this.#take(Math.min(n, this.#length)) : undefined
  }

  #read1Attempt(): Buffer | undefined {
    return this.#length > 0 ? this.#takeFirst(this.#limit) : this.#flags & EOF ? EMPTY : undefined
  }

  /**
   * Copies everything up to end of stream to `writer` (Python's `shutil.copyfileobj(rfile, wfile)`)
   * and resolves with the number of bytes copied. Chunks go from the socket's events straight to
   * the writer, with no promise per chunk; when the writer's peer does not read, this socket is
   * paused until it drains. `timeout` applies to both sides: no data for that long, or a drain that
   * does not come, rejects with `SocketTimeoutError`.
   */
  copyTo(writer: SocketWriter): Promise<number> {
    if (this.#attempt || this.#copy) return Promise.reject(new InvalidStateError(ONE_READ))
    const promise = new PendingCopy()
    this.#resolve = promise
    offerStepPromise(promise, this)
    this.#copy = writer[kSocket]
    this.#copied = 0
    this.#flags &= ~DRAINING
    this.#copies++
    this.#attempt = COPYING
    if (this.timeout !== null) this.#armTimer(this.timeout)
    const buffered = this.#chunks
    this.#chunks = NO_CHUNKS
    for (const chunk of buffered) this.#copyChunk(chunk)
    this.#length = 0
    this.#scanned = 0
    if (this.#error) this.#endCopy(this.#error)
    else if (this.#flags & EOF) this.#endCopy()
    else if ((this.#flags & (PAUSED | DRAINING)) === PAUSED) {
      this.#flags &= ~PAUSED
      this.#source.resume()
    }
    return promise
  }

  #copyChunk(chunk: Buffer): void {
    const target = this.#copy!
    if (target.destroyed || target.writableEnded) {
      this.#endCopy(new ConnectionClosedError(target.errored ?? undefined))
      return
    }
    this.#copied += chunk.length
    if (target.write(chunk) || this.#flags & DRAINING) return
    this.#flags |= DRAINING | PAUSED
    this.#source.pause()
    const copy = this.#copies
    target.once('drain', () => {
      if (this.#copies !== copy) return
      this.#flags &= ~DRAINING
      if (!this.#copy) return
      if (this.timeout !== null) this.#timer?.refresh()
      this.#flags &= ~PAUSED
      this.#source.resume()
    })
  }

  #endCopy(error?: Error): void {
    if (!this.#copy) return
    this.#copy = this.#attempt = undefined
    this.#settle(error === undefined, error ?? this.#copied)
  }

  // A pending promise, settled through this reader's #settle(); offered to the handler step under way.
  #promise<T>(): Promise<T> {
    const promise = new Promise<T>(capture)
    this.#resolve = resolveNext
    resolveNext = undefined
    offerStepPromise(promise, this)
    return promise
  }

  /** @internal The handler step that returned this reader's pending promise (see offerStepPromise). */
  [kWatchStep](step: WatchedStep): void {
    this.#step = step
  }

  // Settles the pending promise with `value`, or rejects it with it; then the step waiting for it.
  #settle(ok: boolean, value: unknown): void {
    const resolve = this.#resolve!
    const step = this.#step
    this.#resolve = this.#step = undefined
    if (resolve instanceof PendingCopy) settleCopy(resolve, ok, value)
    else resolve(ok ? value : Promise.reject(value))
    if (step !== undefined) settleStep(step, !ok, value)
  }

  /**
   * Lines, as Python's `for line in rfile` (each as `readline()` returns it, up to end of stream).
   * A line already buffered is returned at once, with no wait for the socket.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return new LineIterator(this)
  }

  /** Stops reading: detaches from the socket; later reads see end of stream. */
  close(): void {
    if (this.#flags & CLOSED) return
    this.#flags |= CLOSED
    const source = this.#source as Source
    const listeners = OWN_LISTENERS.get(this) ?? SHARED
    source.off('data', listeners.data)
    source.off('end', listeners.end)
    source.off('close', listeners.end)
    source.off('error', listeners.error)
    if (this.#flags & HOLDS_ERRORS) source.on('error', ignoreSocketError)
    if (source[kReader] === this) source[kReader] = undefined // assigned, not deleted: keeps the socket's shape
    clearTimeout(this.#timer)
    this.#onEnd()
  }

  // Completes at once when it can; otherwise waits, retrying on every event of the socket.
  #read<T>(attempt: Attempt, limit: number): Promise<T> {
    if (this.#attempt) return Promise.reject(new InvalidStateError(ONE_READ))
    this.#limit = limit
    // Nothing buffered, no end, no error, not paused: no read can complete yet (the hot path of a
    // request-response handler, which has taken everything before it asks again).
    if (this.#length === 0 && (this.#flags & ~HOLDS_ERRORS) === 0 && this.#error === undefined && limit > 0) {
      this.#attempt = attempt
      if (this.timeout !== null) this.#armTimer(this.timeout)
      return this.#promise<T>()
    }
    let result: Buffer | IteratorResult<Buffer> | undefined
    try {
      if (this.#error) throw this.#error
      result = attempt.call(this)
    } catch (error) {
      if (attempt instanceof LineIterator) attempt.end()
      return Promise.reject(error)
    }
    if (result !== undefined) {
      this.#resumeIfRoom()
      return Promise.resolve(result as T)
    }
    if (this.#flags & PAUSED) {
      this.#flags &= ~PAUSED
      this.#source.resume() // this read needs more than is buffered
    }
    this.#attempt = attempt
    if (this.timeout !== null) this.#armTimer(this.timeout)
    return this.#promise<T>()
  }

  // Runs the waiting read again after an event; settles it if it can now complete.
  #retry(): void {
    const attempt = this.#attempt
    if (!attempt) return
    if (this.#copy) {
      if (this.#error) this.#endCopy(this.#error)
      else if (this.#flags & EOF) this.#endCopy()
      return
    }
    let result: Buffer | IteratorResult<Buffer> | undefined
    try {
      if (this.#error) throw this.#error
      result = attempt.call(this)
    } catch (error) {
      this.#fail(error as Error)
      return
    }
    if (result !== undefined) this.#succeed(result)
  }

  #succeed(value: Buffer | IteratorResult<Buffer>): void {
    this.#attempt = undefined
    this.#resumeIfRoom()
    this.#settle(true, value)
  }

  #fail(error: Error): void {
    if (this.#attempt instanceof LineIterator) this.#attempt.end()
    this.#attempt = undefined
    this.#settle(false, error)
  }

  // One timer per reader, refreshed per wait rather than created: reads are the hot path.
  #armTimer(ms: number): void {
    if (this.#timer) this.#timer.refresh()
    else {
      this.#timer = setTimeout(() => {
        const target = this.#copy
        if (target) {
          const draining = (this.#flags & DRAINING) !== 0
          this.#endCopy(new SocketTimeoutError(draining ? 'write' : 'read', ms))
          if (draining) target.destroy() // a stuck write closes the connection, as wfile does
        } else if (this.#attempt) this.#fail(new SocketTimeoutError('read', ms))
      }, ms)
      this.#timer.unref()
    }
  }

  static {
    const proto = SocketReader.prototype as Mutable<SocketReader>
    proto.maxLineLength = 65_536
    proto.maxReadSize = 16 * 1024 * 1024
    proto.timeout = null
    proto.highWaterMark = 65_536
    nextLine = (reader, iterator) => reader.#read(iterator, reader.maxLineLength)
    lineResult = (reader) => reader.#nextAttempt()
    // Shared by every reader that owns its source; `this` is the source (EventEmitter's doing).
    SHARED = {
      data(this: Source, chunk: Buffer) {
        const reader = this[kReader]
        if (reader) reader.#onData(chunk)
      },
      end(this: Source) {
        const reader = this[kReader]
        if (reader) reader.#onEnd()
      },
      error(this: Source, error: Error) {
        const reader = this[kReader]
        if (reader) reader.#onError(error)
      },
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#copy) {
      if (this.timeout !== null) this.#timer?.refresh()
      this.#copyChunk(chunk)
      return
    }
    // Hot paths, on an empty buffer: a waiting read1() takes the chunk as it is, and so does a
    // waiting line read when the chunk is one whole line (a request-response protocol's usual case).
    if (this.#length === 0 && this.#attempt !== undefined && chunk.length <= this.#limit) {
      const attempt = this.#attempt
      if (attempt === this.#read1Attempt) {
        this.#succeed(chunk)
        return
      }
      const iterating = typeof attempt !== 'function' // a LineIterator
      if ((iterating || attempt === this.#lineAttempt) && isOneLine(chunk)) {
        this.#succeed(iterating ? { value: chunk, done: false } : chunk)
        return
      }
    }
    if (this.#chunks === NO_CHUNKS) this.#chunks = [chunk]
    else this.#chunks.push(chunk)
    this.#length += chunk.length
    this.#retry()
    // Read ahead up to highWaterMark while nobody asks; a waiting read is bounded by its own limit.
    if (!this.#attempt && this.#length >= this.highWaterMark && !(this.#flags & PAUSED)) {
      this.#flags |= PAUSED
      this.#source.pause()
    }
  }

  #resumeIfRoom(): void {
    if ((this.#flags & (PAUSED | CLOSED)) === PAUSED && this.#length < this.highWaterMark) {
      this.#flags &= ~PAUSED
      this.#source.resume()
    }
  }

  #onEnd(): void {
    this.#flags |= EOF
    this.#retry()
  }

  #onError(error: Error): void {
    this.#error ??= error
    this.#retry()
  }

  #indexOfNewline(): number {
    let base = 0
    for (const chunk of this.#chunks) {
      const from = this.#scanned - base
      if (from < chunk.length) {
        const index = chunk.indexOf(NEWLINE, Math.max(from, 0))
        if (index >= 0) return base + index
      }
      base += chunk.length
    }
    this.#scanned = base
    return -1
  }

  #takeFirst(n: number): Buffer {
    return this.#take(Math.min(n, this.#chunks[0]!.length))
  }

  #take(n: number): Buffer {
    if (n === 0) return EMPTY
    const chunks = this.#chunks
    const first = chunks[0]!
    let out: Buffer
    if (first.length === n) {
      out = first
      chunks.shift()
    } else if (first.length > n) {
      out = first.subarray(0, n)
      chunks[0] = first.subarray(n)
    } else {
      out = Buffer.allocUnsafe(n)
      let filled = 0
      while (filled < n) {
        const chunk = chunks[0]!
        const need = n - filled
        if (chunk.length <= need) {
          chunk.copy(out, filled)
          filled += chunk.length
          chunks.shift()
        } else {
          chunk.copy(out, filled, 0, need)
          chunks[0] = chunk.subarray(need)
          filled = n
        }
      }
    }
    this.#length -= n
    this.#scanned = this.#scanned > n ? this.#scanned - n : 0
    return out
  }
}

// Settles a PendingCopy (set in its static block, where its private fields are in reach).
let settleCopy: (copy: PendingCopy, ok: boolean, value: unknown) => void

/**
 * What `copyTo()` returns: a promise (`then`, `catch`, `finally`, `await`) whose native promise is
 * made only when it is used. Returned as it is from `handle()` — `return this.rfile.copyTo(this.wfile)`
 * — it is never used: the server waits on the reader instead (offerStepPromise), so an idle
 * connection keeps this object rather than a promise, its resolving functions and their context.
 */
class PendingCopy implements Promise<number> {
  #promise: Promise<number> | undefined
  #resolve: ((value: unknown) => void) | undefined // while #promise is made and pending

  get [Symbol.toStringTag](): string {
    return 'Promise'
  }

  // biome-ignore lint/suspicious/noThenProperty: it is a promise, made when first used
  then<A = number, B = never>(
    onfulfilled?: ((value: number) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#made().then(onfulfilled, onrejected)
  }

  catch<B = never>(onrejected?: ((reason: any) => B | PromiseLike<B>) | null): Promise<number | B> {
    return this.#made().catch(onrejected)
  }

  finally(onfinally?: (() => void) | null): Promise<number> {
    return this.#made().finally(onfinally)
  }

  #made(): Promise<number> {
    if (this.#promise === undefined) {
      this.#promise = new Promise<number>(capture)
      this.#resolve = resolveNext
      resolveNext = undefined
    }
    return this.#promise
  }

  static {
    settleCopy = (copy, ok, value) => {
      const resolve = copy.#resolve
      copy.#resolve = undefined
      if (resolve) resolve(ok ? value : Promise.reject(value))
      // Settled before anyone asked: made now, settled (a failure nobody handles is reported as
      // an unhandled rejection, as a native promise's would be).
      else copy.#promise ??= ok ? Promise.resolve(value as number) : Promise.reject(value)
    }
  }
}

/**
 * `for await (const line of rfile)`: a plain object over the reader rather than an async generator,
 * which would hold a generator, its registers and a second promise per line (and, while idle, a
 * suspended await) for every connection. It is also the attempt its reader runs while `next()`
 * waits (`call`), so the reader knows whom a failure ends: once a read has rejected, or the lines
 * are done, `next()` resolves `{ done: true }`, as a generator's does.
 */
class LineIterator implements AsyncIterableIterator<Buffer> {
  #reader: SocketReader | undefined

  constructor(reader: SocketReader) {
    this.#reader = reader
  }

  next(): Promise<IteratorResult<Buffer>> {
    return this.#reader === undefined ? Promise.resolve(DONE) : nextLine(this.#reader, this)
  }

  /** Iterable itself, as the async generator it replaces was. */
  [Symbol.asyncIterator](): this {
    return this
  }

  return(value?: unknown): Promise<IteratorResult<Buffer>> {
    this.#reader = undefined
    return Promise.resolve({ value: value as undefined, done: true })
  }

  /** The attempt: the next line as an iterator result; done (and over) at end of stream. */
  call(reader: SocketReader): IteratorResult<Buffer> | undefined {
    const result = lineResult(reader)
    if (result === DONE) this.#reader = undefined
    return result
  }

  /** A read of this iterator rejected: the iteration is over. */
  end(): void {
    this.#reader = undefined
  }
}
