import dgram from 'node:dgram'
import {
  BaseServer,
  type BaseServerOptions,
  BindError,
  EventLoopMixIn,
  type EventLoopServerOptions,
  type InetAddress,
  type InetAddressInput,
  InvalidArgumentError,
  type OversizedPacketPolicy,
  type RequestHandlerClass,
  ReusePortUnsupportedError,
  reusePortSupport,
  toInetAddress,
} from '@socketserver/core'
import {
  adoptDescriptor,
  check,
  type DatagramTransport,
  limitPacket,
  listeningDescriptor,
  type OptionTable,
  releaseDescriptor,
  reportListenerError,
} from '@socketserver/core/transport'

/** Python's `(data, socket)`: the datagram and the server's socket, which replies are sent from. */
export type UDPRequest = [packet: Buffer, socket: dgram.Socket]

export interface UDPServerOptions extends BaseServerOptions, EventLoopServerOptions {
  /** Longest datagram handed to a handler, in bytes (Python's `max_packet_size`). Default: `8192`. */
  maxPacketSize?: number
  /**
   * A longer datagram is cut to `maxPacketSize` bytes (`'truncate'`, what Python's `recvfrom` does)
   * or not handled at all (`'drop'`). Either way it is counted. Default: `'truncate'`.
   */
  oversizedPackets?: OversizedPacketPolicy
}

const ignore = () => {}

/**
 * Python's `UDPServer`: one datagram at a time, in the order they arrive. Use `EventLoopUDPServer`
 * to handle many at once on the event loop.
 *
 * The request is `[packet, socket]` (Python's `(data, socket)`); the client address is
 * `{ address, port, family }`. Replies go out through `socket`, so they come from the server's address.
 */
export class UDPServer extends BaseServer<UDPRequest, InetAddress, InetAddress> {
  static override readonly options: OptionTable = {
    maxPacketSize: { default: 8192, check: check.integer({ min: 1, max: 65_535 }) },
    oversizedPackets: { default: 'truncate', check: check.oneOf('truncate', 'drop') },
  }

  readonly socketType = 'dgram' as const
  addressFamily: 'IPv4' | 'IPv6' | undefined
  declare maxPacketSize: number
  declare oversizedPackets: OversizedPacketPolicy
  /** Datagrams received that were longer than `maxPacketSize` (truncated or dropped). */
  oversizedPacketCount = 0
  /** The bound `dgram.Socket` (Python's `server.socket`), once bound. */
  socket: dgram.Socket | undefined
  #closed: Promise<void> | undefined
  #abortClose: (() => void) | undefined

  protected readonly transport: DatagramTransport<UDPRequest> = {
    socketType: 'dgram',
    addressKind: 'inet',
    packetOf: ([packet]) => packet,
    sendReply: ([, socket], data, to) =>
      new Promise((resolve, reject) => {
        if (!('port' in to)) {
          reject(new InvalidArgumentError('a UDP reply goes to a port and address, not a path'))
          return
        }
        socket.send(data, to.port, to.address, (error) => (error ? reject(error) : resolve()))
      }),
  }

  constructor(
    serverAddress: InetAddressInput,
    RequestHandlerClass: RequestHandlerClass<UDPRequest, InetAddress, any>,
    options?: UDPServerOptions,
  ) {
    const address = toInetAddress(serverAddress)
    super(address, RequestHandlerClass, options)
    this.addressFamily = address.family
  }

  /**
   * Creates the socket with `allowReuseAddress`/`allowReusePort` and binds it, or with the
   * `inherited` option adopts a bound UDP socket passed to this process; records the real address.
   */
  override async serverBind(): Promise<void> {
    const requested = this.serverAddress
    const adoption = this.inherited && adoptDescriptor(this.transport, this.inherited)
    if (!adoption && this.allowReusePort) {
      const { supported, detail } = reusePortSupport()
      if (!supported) throw new ReusePortUnsupportedError(detail)
    }
    const family = adoption ? adoption.kind.family : requested.family
    const socket = dgram.createSocket({
      type: family === 'IPv6' ? 'udp6' : 'udp4',
      reuseAddr: this.allowReuseAddress,
      ...(this.allowReusePort ? { reusePort: true } : {}),
    })
    this.socket = socket
    socket.on('message', (packet, rinfo) => this.#onMessage(socket, packet, rinfo))
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        socket.bind(
          adoption
            ? { fd: adoption.fd }
            : { address: requested.address === '' ? undefined : requested.address, port: requested.port },
          () => {
            socket.off('error', reject)
            resolve()
          },
        )
      })
    } catch (error) {
      if (adoption) releaseDescriptor(adoption.fd)
      throw new BindError(adoption ? `descriptor ${adoption.fd}` : requested, error)
    }
    // Receive and send errors (ENOBUFS, ...) must not crash the process: report them, keep serving.
    socket.on('error', (error) => reportListenerError(this, error))
    const bound = socket.address()
    this.serverAddress = { address: bound.address, port: bound.port, family: bound.family as 'IPv4' | 'IPv6' }
    this.addressFamily = this.serverAddress.family
  }

  /** A datagram socket receives once bound (Python's `server_activate` does nothing for UDP either). */
  override serverActivate(): void {}

  /** The socket's descriptor (Python's `fileno()`). */
  override fileno(): number {
    return listeningDescriptor(this.socket)
  }

  #onMessage(socket: dgram.Socket, packet: Buffer, rinfo: dgram.RemoteInfo): void {
    const clientAddress: InetAddress = {
      address: rinfo.address,
      port: rinfo.port,
      family: rinfo.family as 'IPv4' | 'IPv6',
    }
    const limited = limitPacket(this, packet, clientAddress)
    if (limited) this.enqueueRequest([limited, socket], clientAddress)
  }

  /** Nothing to close per request: every request shares the server's socket (as in Python). */
  override shutdownRequest(_request: UDPRequest): void {}

  /** Nothing to close per request (as in Python). */
  override closeRequest(_request: UDPRequest): void {}

  /** Nothing to close: a dropped or cut-short datagram holds no descriptor. */
  protected override abortRequest(_request: UDPRequest): void {}

  /**
   * Cutting requests short cannot stop their handlers; it stops `serverClose()` from waiting for
   * them to reply, so the socket closes now and their replies fail.
   */
  override abortRequests(): number {
    const count = super.abortRequests()
    this.#abortClose?.()
    return count
  }

  /**
   * Stops handling datagrams at once (the queue is already closed, so new ones are dropped) but,
   * with `blockOnClose`, keeps the socket open until the requests in flight are done: their replies
   * go out through it. `abortRequests()` (the end of `shutdownGracefully()`) closes it now.
   */
  protected override closeListener(): Promise<void> {
    this.#closed ??= this.#closeSocket()
    return this.#closed
  }

  async #closeSocket(): Promise<void> {
    const socket = this.socket
    if (!socket) return
    if (this.blockOnClose && this.activeRequestCount > 0) {
      const aborted = new Promise<void>((resolve) => (this.#abortClose = resolve))
      await Promise.race([this.whenActiveBelow(1), aborted])
      this.#abortClose = undefined
    }
    await new Promise<void>((resolve) => {
      try {
        socket.close(resolve)
      } catch {
        resolve() // never bound (the bind failed) or already closed
      }
    })
    socket.on('error', ignore)
  }
}

/**
 * Many datagrams handled at once on the one event loop: what most Node users want. Handlers
 * interleave at each `await`; a CPU-bound handler still blocks the others.
 */
export class EventLoopUDPServer extends EventLoopMixIn(UDPServer) {}
