import type dgram from 'node:dgram'
import { Readable } from 'node:stream'
import {
  BaseRequestHandler,
  DatagramTooLargeError,
  type InetAddress,
  InvalidStateError,
} from '@socketserver/core'
import { COMPLETED_STEP, check, type OptionTable } from '@socketserver/core/transport'
import { checkHandlerOptions, setOptionDefaults } from './handler-options.js'
import { SocketReader } from './socket-reader.js'

const RESOLVED = Promise.resolve()

/** The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes). */
export const MAX_UDP_PAYLOAD = 65_507

/**
 * Python's `DatagramRequestHandler.wfile` (a `BytesIO`): collects the reply, which `finish()` sends
 * as one datagram. `write()` resolves at once, so handlers read the same as stream handlers.
 */
export class DatagramWriter {
  readonly maxSize: number
  // The usual reply is one write: kept as is, concatenated only when a second one comes.
  #first: Buffer | undefined
  #rest: Buffer[] | undefined
  #length = 0
  #written = false
  #closed = false

  constructor({ maxSize = MAX_UDP_PAYLOAD }: { maxSize?: number } = {}) {
    this.maxSize = maxSize
  }

  /** Bytes collected so far. */
  get length(): number {
    return this.#length
  }

  /** Whether `write()` was called (even with nothing): only then does `finish()` send a datagram. */
  get written(): boolean {
    return this.#written
  }

  /**
   * Appends to the reply. Rejects, keeping nothing of `data`, once the reply would exceed `maxSize`
   * bytes, with `DatagramTooLargeError` (`SOCKSRV_DATAGRAM_TOO_LARGE`): sending it would fail with EMSGSIZE.
   */
  write(data: Uint8Array | string): Promise<void> {
    if (this.#closed)
      return Promise.reject(new InvalidStateError('the reply was already sent: write before finish()'))
    // A Buffer is kept as it is (a view of the same bytes, as before): no new view per reply.
    const chunk =
      typeof data === 'string'
        ? Buffer.from(data)
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data.buffer, data.byteOffset, data.length)
    if (this.#length + chunk.length > this.maxSize) {
      return Promise.reject(new DatagramTooLargeError(this.#length + chunk.length, this.maxSize))
    }
    this.#written = true
    if (chunk.length > 0) {
      if (this.#first === undefined) this.#first = chunk
      else (this.#rest ??= []).push(chunk)
      this.#length += chunk.length
    }
    return RESOLVED
  }

  /** Nothing to do: the reply leaves as one datagram in `finish()`. Here so stream handler code runs unchanged. */
  flush(): Promise<void> {
    return RESOLVED
  }

  /** The reply so far (Python's `BytesIO.getvalue()`). */
  getvalue(): Buffer {
    if (this.#rest) {
      this.#first = Buffer.concat([this.#first!, ...this.#rest], this.#length)
      this.#rest = undefined
    }
    return this.#first ?? Buffer.alloc(0)
  }

  /** No more writes. */
  close(): void {
    this.#closed = true
  }
}

/** `[packet, socket]`, as `UDPServer` gives it (Python's `(data, socket)`). */
export type DatagramRequest<Socket = dgram.Socket> = readonly [packet: Buffer, socket: Socket]

/**
 * Python's `DatagramRequestHandler`: `packet` is the datagram, `rfile` a reader over it (the same
 * `SocketReader` stream handlers use: `readline()`, `read()`, `read1()`, `for await (const line of rfile)`),
 * and `wfile` collects the reply that `finish()` sends to `clientAddress` as one datagram, from the
 * server's socket. Nothing is sent unless the handler called `wfile.write()` (Python sends an empty
 * datagram then).
 *
 * ```ts
 * class Echo extends DatagramRequestHandler {
 *   override async handle() { await this.wfile.write(this.packet) }
 * }
 * ```
 */
export class DatagramRequestHandler<
  ClientAddress = InetAddress,
  Server = unknown,
  Socket = dgram.Socket,
> extends BaseRequestHandler<DatagramRequest<Socket>, ClientAddress, Server> {
  /** Longest line `rfile.readline()` returns, in bytes, newline included. Default: `65536`. */
  declare maxLineLength: number
  /** Largest reply `wfile` collects, in bytes. Default: `65507` (the most one UDP/IPv4 datagram carries). */
  declare maxReplySize: number
  /**
   * Wait for the kernel to accept each reply, so a failed send rejects into `handleError()` as
   * Python's `sendto` raises. Off by default: a UDP reply is fire-and-forget, as with raw
   * `node:dgram`, and Node then drops a failed send silently; confirming costs a callback, a tick
   * and a promise per reply (about a fifth of a 64-byte echo's throughput). Default: `false`.
   */
  declare confirmReplies: boolean

  /**
   * The options above: default and check. Values are checked once per handler class, in the first
   * `setup()` (see `StreamRequestHandler.options`).
   */
  static readonly options: OptionTable = {
    maxLineLength: { default: 65_536, check: check.integer({ min: 1 }) },
    maxReplySize: { default: MAX_UDP_PAYLOAD, check: check.integer({ min: 0 }) },
    confirmReplies: { default: false, check: check.boolean },
  }

  static {
    // Defaults on the prototype, not set on every handler (one handler per datagram); a subclass's
    // `override confirmReplies = true` is a field of its own, as before.
    setOptionDefaults(DatagramRequestHandler.prototype, DatagramRequestHandler.options)
  }

  /** The datagram received (Python's `packet`). */
  packet!: Buffer
  /** The server's socket, which the reply is sent from (Python's `socket`). */
  socket!: Socket
  wfile!: DatagramWriter
  #rfile: SocketReader | undefined

  /** A reader over `packet`, made on first use: handlers that read `packet` directly pay nothing for it. */
  get rfile(): SocketReader {
    if (!this.#rfile) {
      const source = new Readable({ read() {} })
      source.push(this.packet)
      source.push(null)
      this.#rfile = new SocketReader(source, {
        maxLineLength: this.maxLineLength,
        maxReadSize: this.packet.length,
      })
    }
    return this.#rfile
  }

  override setup(): void {
    checkHandlerOptions(this)
    this.packet = this.request[0]
    this.socket = this.request[1]
    this.wfile = new DatagramWriter({ maxSize: this.maxReplySize })
  }

  /** Sends what was written to `wfile` as one datagram (also after `handle()` threw, as in Python). */
  override finish(): Promise<void> {
    this.#rfile?.close()
    const wfile = this.wfile
    if (!wfile) return COMPLETED_STEP
    wfile.close()
    if (!wfile.written) return COMPLETED_STEP
    return this.sendPacket(wfile.getvalue())
  }

  /**
   * Sends one datagram to `clientAddress` through `socket`; resolves once the kernel took it. A
   * string client address is a Unix socket path: the Unix datagram socket's `send(data, path)`.
   */
  protected sendPacket(data: Buffer): Promise<void> {
    if (typeof this.clientAddress === 'string') {
      const unix = this.socket as unknown as { send(data: Buffer, path: string): Promise<void> }
      return unix.send(data, this.clientAddress)
    }
    const socket = this.socket as unknown as dgram.Socket
    const { address, port } = this.clientAddress as unknown as InetAddress
    if (!this.confirmReplies) {
      socket.send(data, port, address)
      return COMPLETED_STEP // the request goes straight on to its end: no microtask per datagram
    }
    return new Promise((resolve, reject) => {
      socket.send(data, port, address, (error) => (error ? reject(error) : resolve()))
    })
  }
}
