import type { Readable } from 'node:stream'
import { LineTooLongError, ReadLimitError, SocketTimeoutError } from '@socketserver/core'

export interface SocketReaderOptions {
  /** Longest line `readline()` returns, in bytes, newline included. Default: `65536`. */
  maxLineLength?: number
  /** Most `read()` (to end of stream) may buffer, in bytes. Default: `16777216` (16 MiB). */
  maxReadSize?: number
  /** Longest a read may wait for data, in ms; then it rejects with `SocketTimeoutError`. `null`: forever. Default: `null`. */
  timeout?: number | null
}

const EMPTY = Buffer.alloc(0)
const NEWLINE = 0x0a

/**
 * Python's `rfile`: a buffered reader over a socket, pulling from it only as much as a call needs,
 * so memory stays bounded by the stream's high-water mark plus the largest line or read asked for.
 */
export class SocketReader implements AsyncIterable<Buffer> {
  readonly maxLineLength: number
  readonly maxReadSize: number
  readonly timeout: number | null
  readonly #source: Readable
  #chunks: Buffer[] = []
  #length = 0
  #scanned = 0 // leading bytes already searched for a newline
  #eof = false
  #error: Error | undefined
  #wake: (() => void) | undefined
  #fail: ((error: Error) => void) | undefined
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor(source: Readable, options: SocketReaderOptions = {}) {
    this.#source = source
    this.maxLineLength = options.maxLineLength ?? 65_536
    this.maxReadSize = options.maxReadSize ?? 16 * 1024 * 1024
    this.timeout = options.timeout ?? null
    source.on('readable', this.#onReadable)
    source.on('end', this.#onEnd)
    source.on('close', this.#onEnd)
    source.on('error', this.#onError)
    if (source.readableEnded || source.destroyed) this.#eof = true
  }

  /** Bytes buffered here and not yet returned. */
  get buffered(): number {
    return this.#length
  }

  /**
   * One line, ending in `\n`; the rest of the stream at end of stream; an empty Buffer after it.
   * A line longer than `limit` bytes rejects with `LineTooLongError` (the bytes stay buffered).
   */
  async readline({ limit = this.maxLineLength }: { limit?: number } = {}): Promise<Buffer> {
    for (;;) {
      const index = this.#indexOfNewline()
      if (index >= 0) {
        if (index + 1 > limit) throw new LineTooLongError(limit)
        return this.#take(index + 1)
      }
      if (this.#length > limit) throw new LineTooLongError(limit)
      if (!(await this.#fill())) return this.#take(this.#length)
    }
  }

  /**
   * `n` bytes, or fewer only at end of stream. Without `n`, everything up to end of stream
   * (rejecting with `ReadLimitError` past `maxReadSize`).
   */
  async read(n?: number): Promise<Buffer> {
    if (n === undefined || n < 0) {
      while (await this.#fill()) {
        if (this.#length > this.maxReadSize) throw new ReadLimitError(this.maxReadSize)
      }
      return this.#take(this.#length)
    }
    while (this.#length < n && (await this.#fill())) {}
    return this.#take(Math.min(n, this.#length))
  }

  /** Whatever is available, at least one byte and at most `n`, waiting only if nothing is; empty at end of stream. */
  async read1(n = Number.POSITIVE_INFINITY): Promise<Buffer> {
    if (this.#length === 0 && !(await this.#fill())) return EMPTY
    const first = this.#chunks[0]!
    return this.#take(Math.min(n, first.length))
  }

  /** Lines, as Python's `for line in rfile`. */
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const line = await this.readline()
      if (line.length === 0) return
      yield line
    }
  }

  /** Stops reading: detaches from the socket; later reads see end of stream. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#eof = true
    const source = this.#source
    source.off('readable', this.#onReadable)
    source.off('end', this.#onEnd)
    source.off('close', this.#onEnd)
    source.off('error', this.#onError)
    clearTimeout(this.#timer)
    this.#onEnd()
  }

  // Pulls one chunk from the socket into the buffer; false at end of stream.
  async #fill(): Promise<boolean> {
    for (;;) {
      if (this.#error) throw this.#error
      if (this.#closed) return false
      const chunk = this.#source.read() as Buffer | null
      if (chunk !== null) {
        this.#chunks.push(chunk)
        this.#length += chunk.length
        return true
      }
      if (this.#eof) return false
      await this.#waitForData()
    }
  }

  #waitForData(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#wake = resolve
      this.#fail = reject
      if (this.timeout !== null) this.#armTimer(this.timeout)
    })
  }

  // One timer per reader, refreshed per wait rather than created: reads are the hot path.
  #armTimer(ms: number): void {
    if (this.#timer) this.#timer.refresh()
    else {
      this.#timer = setTimeout(() => {
        const fail = this.#fail
        if (!fail) return
        this.#wake = this.#fail = undefined
        fail(new SocketTimeoutError('read', ms))
      }, ms)
      this.#timer.unref()
    }
  }

  #onReadable = (): void => {
    const wake = this.#wake
    if (!wake) return
    this.#wake = this.#fail = undefined
    wake()
  }

  #onEnd = (): void => {
    this.#eof = true
    this.#onReadable()
  }

  #onError = (error: Error): void => {
    this.#error ??= error
    this.#onReadable()
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
