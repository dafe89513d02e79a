import type { Socket } from 'node:net'
import { ConnectionClosedError, SocketTimeoutError } from '@socketserver/core'

export interface SocketWriterOptions {
  /** Longest a write may wait for the peer to read, in ms; then the connection is destroyed and the write rejects. `null`: forever. Default: `null`. */
  timeout?: number | null
  /** Largest piece handed to the socket at once, in bytes; larger writes go in pieces, each after the last drained. Default: `65536`. */
  chunkSize?: number
}

const RESOLVED = Promise.resolve()
/** Package-internal: lets `SocketReader.copyTo()` write to the socket without a promise per chunk. */
export const kSocket = Symbol('socket')
const EMPTY = Buffer.alloc(0)

/**
 * Python's `wfile` (an unbuffered `sendall`): `write()` resolves once the socket has taken the
 * data, and waits while the peer is not reading. A handler that awaits its writes holds at most
 * the socket's high-water mark plus one `chunkSize` piece per connection, however slow the peer.
 */
export class SocketWriter {
  // Defaults on the prototype (set in the static block); a writer given other values has its own.
  declare readonly timeout: number | null
  declare readonly chunkSize: number
  readonly #socket: Socket
  #closed = false

  constructor(socket: Socket, options: SocketWriterOptions = {}) {
    this.#socket = socket
    const { timeout, chunkSize } = options
    if (timeout !== undefined && timeout !== null) this.timeout = timeout
    if (chunkSize !== undefined && chunkSize !== 65_536) this.chunkSize = chunkSize
  }

  static {
    const proto = SocketWriter.prototype as { timeout: number | null; chunkSize: number }
    proto.timeout = null
    proto.chunkSize = 65_536
  }

  get [kSocket](): Socket {
    return this.#socket
  }

  get closed(): boolean {
    return this.#closed
  }

  write(data: Uint8Array | string): Promise<void> {
    const socket = this.#socket
    if (this.#closed || socket.destroyed || socket.writableEnded) {
      return Promise.reject(new ConnectionClosedError(socket.errored ?? undefined))
    }
    if (typeof data === 'string') data = Buffer.from(data)
    if (data.length > this.chunkSize) return this.#writeInPieces(data)
    return socket.write(data) ? RESOLVED : this.#drained()
  }

  /** Resolves once everything written so far has been handed to the kernel. */
  flush(): Promise<void> {
    const socket = this.#socket
    if (socket.writableLength === 0) return RESOLVED
    if (socket.destroyed) return Promise.reject(new ConnectionClosedError(socket.errored ?? undefined))
    // An empty write's callback runs once every write before it has completed.
    return new Promise((resolve, reject) => {
      socket.write(EMPTY, (error) => (error ? reject(new ConnectionClosedError(error)) : resolve()))
    })
  }

  /** No more writes through this writer; the socket itself is closed by the server. */
  close(): void {
    this.#closed = true
  }

  async #writeInPieces(data: Uint8Array): Promise<void> {
    for (let offset = 0; offset < data.length; offset += this.chunkSize) {
      await this.write(data.subarray(offset, offset + this.chunkSize))
    }
  }

  #drained(): Promise<void> {
    const socket = this.#socket
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const done = (error?: Error) => {
        socket.off('drain', onDrain)
        socket.off('close', onClose)
        clearTimeout(timer)
        if (error) reject(error)
        else resolve()
      }
      const onDrain = () => done()
      const onClose = () => done(new ConnectionClosedError(socket.errored ?? undefined))
      socket.on('drain', onDrain)
      socket.on('close', onClose)
      if (this.timeout !== null) {
        const ms = this.timeout
        timer = setTimeout(() => {
          done(new SocketTimeoutError('write', ms))
          socket.destroy()
        }, ms)
      }
    })
  }
}
