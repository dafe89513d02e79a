import type { Socket } from 'node:net'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { RemoteHandlerError, type SerializedError } from '@socketserver/core'
import { tlsDetails } from '@socketserver/core/transport'
import {
  type FromProxy,
  ownBytes,
  type SocketInfo,
  type ToProxy,
  toBuffer,
  WRITE_WINDOW,
} from './protocol.js'

/**
 * The main thread's half of a proxied connection: pumps the real socket's bytes to the worker's
 * `ProxySocket` and carries out what the handler does to it (write, end, destroy, setNoDelay).
 * Flow control: reads by pause/resume messages on transitions only; writes by a credit window
 * (WRITE_WINDOW) the main thread hands back every quarter window or when the socket drains.
 */
export class ProxyLink {
  /** The end handed to the worker (transferred). */
  readonly remote: MessagePort
  readonly #port: MessagePort
  readonly #socket: Socket
  /** Bytes the handler wrote that the worker has not been told the socket took. */
  #unacknowledged = 0
  #draining = false
  #closed = false
  readonly #onDone: (error: SerializedError | undefined) => void

  constructor(socket: Socket, onDone: (error: SerializedError | undefined) => void) {
    const { port1, port2 } = new MessageChannel()
    this.#port = port1
    this.remote = port2
    this.#socket = socket
    this.#onDone = onDone
    port1.on('message', (message: FromProxy) => this.#onMessage(message))
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('close', this.#onClose)
    if (socket.destroyed) this.#onClose()
    else socket.resume()
  }

  static info(socket: Socket): SocketInfo {
    return {
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      remoteFamily: socket.remoteFamily,
      localAddress: socket.localAddress,
      localPort: socket.localPort,
      tls: tlsDetails(socket),
    }
  }

  #post(message: ToProxy): void {
    if (!this.#closed) this.#port.postMessage(message)
  }

  readonly #onData = (chunk: Buffer) => this.#post(ownBytes(chunk))
  readonly #onDrain = () => {
    this.#draining = false
    this.#acknowledge()
  }

  #acknowledge(): void {
    if (this.#unacknowledged === 0) return
    this.#post({ t: 'ack', bytes: this.#unacknowledged })
    this.#unacknowledged = 0
  }
  readonly #onEnd = () => this.#post({ t: 'end' })
  readonly #onClose = () => {
    const error = this.#socket.errored
    this.#post({ t: 'close', ...(error ? { error: RemoteHandlerError.serialize(error) } : {}) })
  }

  #onMessage(message: FromProxy): void {
    const socket = this.#socket
    if (ArrayBuffer.isView(message)) {
      if (socket.destroyed) return
      this.#unacknowledged += message.byteLength
      if (!socket.write(toBuffer(message))) {
        // Above the socket's high-water mark: the credit goes back once it drains.
        if (!this.#draining) {
          this.#draining = true
          socket.once('drain', this.#onDrain)
        }
      } else if (!this.#draining && this.#unacknowledged >= WRITE_WINDOW / 4) {
        this.#acknowledge()
      }
      return
    }
    switch (message.t) {
      case 'fin':
        if (!socket.destroyed) socket.end()
        break
      case 'destroy':
        socket.destroy()
        break
      case 'pause':
        socket.pause()
        break
      case 'resume':
        socket.resume()
        break
      case 'nodelay':
        if (!socket.destroyed) socket.setNoDelay(message.value)
        break
      case 'keepalive':
        if (!socket.destroyed) socket.setKeepAlive(message.enable, message.delay)
        break
      case 'done':
        this.close()
        this.#onDone(message.error)
        break
    }
  }

  /** Stops pumping and closes both ends of the port. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#socket.off('data', this.#onData)
    this.#socket.off('end', this.#onEnd)
    this.#socket.off('close', this.#onClose)
    this.#socket.off('drain', this.#onDrain)
    this.#port.close()
  }
}
