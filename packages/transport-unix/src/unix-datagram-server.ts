import {
  BaseServer,
  BindError,
  EventLoopMixIn,
  type EventLoopServerOptions,
  InheritedSocketUnsupportedError,
  InvalidArgumentError,
  type OversizedPacketPolicy,
  type RequestHandlerClass,
  SocketServerError,
} from '@socketserver/core'
import {
  check,
  type DatagramTransport,
  limitPacket,
  type OptionTable,
  reportListenerError,
} from '@socketserver/core/transport'
import { MAX_RECEIVED_DATAGRAM, UnixDatagramSocket } from './datagram-socket.js'
import { checkSocketMode, type UnixServerOptions, unixServerOptions } from './options.js'
import { checkUnixPath, isAbstractName } from './path.js'
import {
  applyMode,
  bindThroughPrivateDirectory,
  clearStaleSocket,
  identify,
  removeOwnSocketFile,
  type SocketFileIdentity,
} from './socket-file.js'

/** Python's `(data, socket)`: the datagram and the server's socket, which replies are sent from. */
export type UnixDatagramRequest = [packet: Buffer, socket: UnixDatagramSocket]

export interface UnixDatagramServerOptions extends UnixServerOptions, EventLoopServerOptions {
  /** Longest datagram handed to a handler, in bytes (Python's `max_packet_size`), at most `65535`. Default: `8192`. */
  maxPacketSize?: number
  /**
   * A longer datagram is cut to `maxPacketSize` bytes (`'truncate'`, what Python's `recvfrom`
   * does) or not handled at all (`'drop'`). Either way it is counted. Default: `'truncate'`.
   */
  oversizedPackets?: OversizedPacketPolicy
}

const UNNAMED = ''

/**
 * Python's `UnixDatagramServer`: one datagram at a time on a Unix datagram socket, in the order they
 * arrive. Use `EventLoopUnixDatagramServer` to handle many at once on the event loop.
 *
 * The address is a filesystem path (abstract names are not supported for datagrams: see the
 * README). The request is `[packet, socket]`; the client address is the path the sender's socket
 * is bound to, or `''` for a sender that did not bind one (it cannot be replied to, as in Python).
 * Reply with `await socket.send(data, clientAddress)`.
 *
 * Node has no Unix datagram sockets: they come from the native library `node-unix-socket`
 * (docs/decisions/0005-unix-datagram-library.md), loaded on first bind.
 */
export class UnixDatagramServer extends BaseServer<UnixDatagramRequest, string, string> {
  static override readonly options: OptionTable = {
    ...unixServerOptions,
    maxPacketSize: { default: 8192, check: check.integer({ min: 1, max: MAX_RECEIVED_DATAGRAM }) },
    oversizedPackets: { default: 'truncate', check: check.oneOf('truncate', 'drop') },
  }

  readonly socketType = 'dgram' as const
  readonly addressFamily = 'Unix' as const
  declare maxPacketSize: number
  declare oversizedPackets: OversizedPacketPolicy
  declare socketMode: number | undefined
  /** Datagrams received that were longer than `maxPacketSize` (truncated or dropped). */
  oversizedPacketCount = 0
  /** The bound socket (Python's `server.socket`), once bound. */
  socket: UnixDatagramSocket | undefined
  #file: SocketFileIdentity | undefined
  #closed: Promise<void> | undefined
  #abortClose: (() => void) | undefined

  protected readonly transport: DatagramTransport<UnixDatagramRequest> = {
    socketType: 'dgram',
    addressKind: 'unix',
    packetOf: ([packet]) => packet,
    sendReply: ([, socket], data, to) =>
      'path' in to
        ? socket.send(data, to.path)
        : Promise.reject(new InvalidArgumentError('a Unix datagram reply goes to a path, not a port')),
  }

  constructor(
    serverAddress: string,
    RequestHandlerClass: RequestHandlerClass<UnixDatagramRequest, string, any>,
    options?: UnixDatagramServerOptions,
  ) {
    const path = checkUnixPath(serverAddress)
    if (isAbstractName(path)) {
      throw new InvalidArgumentError(
        'UnixDatagramServer cannot bind an abstract name: the native datagram library pads it to the whole sun_path, which no other client can address (bind a filesystem path)',
      )
    }
    super(path, RequestHandlerClass, options)
  }

  protected override checkOptions(): void {
    super.checkOptions()
    checkSocketMode(this.socketMode, this.serverAddress)
  }

  /**
   * Clears a stale socket file and binds. With `socketMode`, the socket is bound inside a private
   * directory, given its mode, and only then linked to `serverAddress` (see the README).
   */
  override async serverBind(): Promise<void> {
    if (this.inherited) {
      throw new InheritedSocketUnsupportedError(
        'UnixDatagramServer cannot adopt an inherited socket: its native datagram library (node-unix-socket) only opens sockets of its own (docs/decisions/0015-socket-activation-and-restart.md); bind a path instead',
      )
    }
    const path = this.serverAddress
    try {
      await clearStaleSocket(path, 'stream')
      const socket = await UnixDatagramSocket.open(
        (packet, sender) => this.#onMessage(socket, packet, sender),
        // A failed receive closes the library's socket: report it; the server stops receiving.
        (error) => reportListenerError(this, error),
      )
      this.socket = socket
      if (this.socketMode !== undefined) {
        this.#file = await bindThroughPrivateDirectory(path, this.socketMode, async (at) => socket.bind(at))
      }
      if (!this.#file) {
        socket.bind(path)
        await applyMode(path, this.socketMode)
        this.#file = await identify(path)
      }
    } catch (error) {
      throw error instanceof SocketServerError ? error : new BindError(path, error)
    }
  }

  /** A datagram socket receives once bound (Python's `server_activate` does nothing for datagrams either). */
  override serverActivate(): void {}

  #onMessage(socket: UnixDatagramSocket, packet: Buffer, sender: string): void {
    const clientAddress = sender || UNNAMED
    const limited = limitPacket(this, packet, clientAddress)
    if (limited) this.enqueueRequest([limited, socket], clientAddress)
  }

  /** Nothing to close per request: every request shares the server's socket (as in Python). */
  override shutdownRequest(_request: UnixDatagramRequest): void {}

  /** Nothing to close per request (as in Python). */
  override closeRequest(_request: UnixDatagramRequest): void {}

  /**
   * Cutting a request short cannot stop its handler; it stops `serverClose()` from waiting for
   * handlers to reply, so the socket closes now and later replies fail.
   */
  protected override abortRequest(_request: UnixDatagramRequest): void {
    this.#abortClose?.()
  }

  /**
   * Stops handling datagrams at once (the queue is already closed, so new ones are dropped) but,
   * with `blockOnClose`, keeps the socket open until the requests in flight are done: their replies
   * go out through it. Then closes it and removes its file if `serverAddress` still names it.
   */
  protected override closeListener(): Promise<void> {
    this.#closed ??= this.#closeSocket()
    return this.#closed
  }

  async #closeSocket(): Promise<void> {
    const socket = this.socket
    if (socket && this.blockOnClose && this.activeRequestCount > 0) {
      const aborted = new Promise<void>((resolve) => (this.#abortClose = resolve))
      await Promise.race([this.whenActiveBelow(1), aborted])
      this.#abortClose = undefined
    }
    socket?.close()
    const file = this.#file
    this.#file = undefined
    await removeOwnSocketFile(this.serverAddress, file)
  }
}

/**
 * Many datagrams handled at once on the one event loop. Handlers interleave at each `await`; a
 * CPU-bound handler still blocks the others.
 */
export class EventLoopUnixDatagramServer extends EventLoopMixIn(UnixDatagramServer) {}
