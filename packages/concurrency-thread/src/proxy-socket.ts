import { Duplex } from 'node:stream'
import type { MessagePort } from 'node:worker_threads'
import { applyTLSDetails } from '@socketserver/core/transport'
import {
  type FromProxy,
  ownBytes,
  type SocketInfo,
  systemError,
  type ToProxy,
  toBuffer,
  WRITE_WINDOW,
} from './protocol.js'

/**
 * The connection a handler gets in a worker when the runtime cannot transfer sockets (Node < 26):
 * a Duplex whose bytes travel over a MessagePort to the real socket in the main thread. It behaves
 * like a `net.Socket` where handlers depend on it: reads pause the real socket when nobody reads
 * here, writes wait once a window of them has not reached the real socket (`write()` returns false, `drain`),
 * `end()` half-closes, `destroy()` resets, and a peer's FIN arrives as end of stream.
 */
export class ProxySocket extends Duplex {
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  readonly remoteFamily: string | undefined
  readonly localAddress: string | undefined
  readonly localPort: number | undefined
  readonly #port: MessagePort
  #readPaused = false
  /** Bytes written here that the main thread has not acknowledged (see WRITE_WINDOW). */
  #unacknowledged = 0
  #pendingWrite: (() => void) | undefined
  #remoteClosed = false

  constructor(port: MessagePort, info: SocketInfo) {
    super({ allowHalfOpen: true })
    this.#port = port
    this.remoteAddress = info.remoteAddress
    this.remotePort = info.remotePort
    this.remoteFamily = info.remoteFamily
    this.localAddress = info.localAddress
    this.localPort = info.localPort
    if (info.tls) applyTLSDetails(this, info.tls)
    port.on('message', (message: ToProxy) => this.#onMessage(message))
  }

  #post(message: FromProxy): void {
    if (!this.#remoteClosed) this.#port.postMessage(message)
  }

  #onMessage(message: ToProxy): void {
    if (ArrayBuffer.isView(message)) {
      if (!this.push(toBuffer(message)) && !this.#readPaused) {
        this.#readPaused = true
        this.#post({ t: 'pause' })
      }
      return
    }
    switch (message.t) {
      case 'end':
        this.push(null)
        break
      case 'close': {
        this.#remoteClosed = true
        this.#releaseWrite()
        const error = message.error ? systemError(message.error) : undefined
        // A reset or an error while the handler still reads or writes is an error here too.
        this.destroy(error)
        break
      }
      case 'ack':
        this.#unacknowledged -= message.bytes
        if (this.#unacknowledged < WRITE_WINDOW) this.#releaseWrite()
        break
    }
  }

  #releaseWrite(): void {
    const pending = this.#pendingWrite
    this.#pendingWrite = undefined
    pending?.()
  }

  override _read(): void {
    if (this.#readPaused) {
      this.#readPaused = false
      this.#post({ t: 'resume' })
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#remoteClosed) {
      // a system error, as Node's
      callback(Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' }))
      return
    }
    this.#post(ownBytes(chunk))
    this.#unacknowledged += chunk.length
    // Within the window a write completes at once; past it, once the main thread's socket took enough.
    if (this.#unacknowledged >= WRITE_WINDOW) this.#pendingWrite = () => callback()
    else callback()
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#post({ t: 'fin' })
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // autoDestroy after end of stream both ways is not a reset: the main thread's socket still
    // flushes what it holds. Any other destroy() (the handler's, an error) resets the connection.
    if (error || !(this.writableFinished && this.readableEnded)) this.#post({ t: 'destroy' })
    this.#releaseWrite()
    callback(error)
  }

  /** Sent to the real socket in the main thread. */
  setNoDelay(noDelay = true): this {
    this.#post({ t: 'nodelay', value: noDelay })
    return this
  }

  /** Sent to the real socket in the main thread. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.#post({ t: 'keepalive', enable, delay: initialDelay })
    return this
  }

  address(): { address: string | undefined; port: number | undefined; family: string | undefined } {
    return { address: this.localAddress, port: this.localPort, family: this.remoteFamily }
  }

  /** Tells the main thread the handler is done, after every write (same port, so in order). */
  finishRequest(error: FromProxy & { t: 'done' }): void {
    this.#post(error)
  }

  /** Stops listening to the port (the main thread closes its end). */
  release(): void {
    this.#port.close()
  }
}
