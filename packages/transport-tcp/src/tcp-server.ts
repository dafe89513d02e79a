import net from 'node:net'
import {
  BaseServer,
  type BaseServerOptions,
  BindError,
  EventLoopMixIn,
  type EventLoopServerOptions,
  type InetAddress,
  type InetAddressInput,
  type ProxyHeader,
  type ProxyProtocolSetting,
  type RequestHandlerClass,
  ReusePortUnsupportedError,
  reusePortSupport,
  toInetAddress,
} from '@socketserver/core'
import {
  adoptDescriptor,
  type ConnectionStage,
  check,
  closeStreamSocket,
  ignoreSocketError,
  lingeringStreamTransport,
  listeningDescriptor,
  type OptionTable,
  proxyProtocolOption,
  proxyProtocolStage,
  releaseDescriptor,
  reportListenerError,
  type StreamTransport,
  watchDescriptors,
} from '@socketserver/core/transport'

export interface TCPServerOptions extends BaseServerOptions, EventLoopServerOptions {
  /** How long closing a request waits for its unsent data to reach the kernel before dropping it, in ms. Default: `30000`. */
  closeTimeout?: number
  /** After our FIN, how long to wait for the client's, discarding what it still sends, in ms. Default: `2000`. */
  lingerTimeout?: number
  /**
   * Read a PROXY protocol header (v1 or v2, HAProxy's spec) at the start of each connection, as sent
   * by a load balancer (HAProxy `send-proxy`/`send-proxy-v2`, AWS NLB, nginx `proxy_protocol on`):
   * `clientAddress`, access control and per-address limits then use the original client;
   * `proxyInfo(request)` gives the header (TLVs included) and the proxy's own address. A connection
   * without a valid header within `headerTimeout` is refused unprocessed. Default: `false`.
   */
  proxyProtocol?: ProxyProtocolSetting
}

/**
 * Python's `TCPServer`: one request (connection) at a time, in the order they arrive. Use
 * `EventLoopTCPServer` to serve many connections at once on the event loop.
 *
 * The request is the accepted `net.Socket`; the client address is `{ address, port, family }`.
 */
export class TCPServer extends BaseServer<net.Socket, InetAddress, InetAddress> {
  static override readonly options: OptionTable = {
    closeTimeout: { default: 30_000, check: check.ms() },
    lingerTimeout: { default: 2_000, check: check.ms() },
    proxyProtocol: proxyProtocolOption,
  }

  readonly socketType = 'stream' as const
  addressFamily: 'IPv4' | 'IPv6' | undefined
  declare closeTimeout: number
  declare lingerTimeout: number
  declare proxyProtocol: ProxyProtocolSetting
  /** The listening `net.Server` (Python's `server.socket`), once bound. */
  socket: net.Server | undefined
  // Set by a concurrency mode (transport.acceptPaused()) so a socket moves on with no byte read here.
  #pauseOnAccept = false
  #stopWatch: (() => void) | undefined

  protected readonly transport: StreamTransport = lingeringStreamTransport('inet', this, () => {
    this.#pauseOnAccept = true
  })

  constructor(
    serverAddress: InetAddressInput,
    RequestHandlerClass: RequestHandlerClass<net.Socket, InetAddress, any>,
    options?: TCPServerOptions,
  ) {
    const address = toInetAddress(serverAddress)
    super(address, RequestHandlerClass, options)
    this.addressFamily = address.family
  }

  /**
   * Binds and listens on `serverAddress`, or with the `inherited` option adopts a listening socket
   * passed to this process (socket activation, a restart), checked to be TCP.
   */
  override async serverBind(): Promise<void> {
    const requested = this.serverAddress
    const adoption = this.inherited && adoptDescriptor(this.transport, this.inherited)
    if (!adoption && this.allowReusePort) {
      const { supported, detail } = reusePortSupport()
      if (!supported) throw new ReusePortUnsupportedError(detail)
    }
    // allowHalfOpen: a client that half-closes (sends its request, then FIN) still gets the reply,
    // as with Python; shutdownRequest() closes our side when the handler is done.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: this.#pauseOnAccept })
    server.on('connection', (socket) => this.#onConnection(socket))
    this.socket = server
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(
          adoption
            ? { fd: adoption.fd }
            : {
                host: requested.address === '' ? undefined : requested.address,
                port: requested.port,
                backlog: this.requestQueueSize,
                ...(this.allowReusePort ? { reusePort: true } : {}),
              },
          () => {
            server.off('error', reject)
            resolve()
          },
        )
      })
    } catch (error) {
      if (adoption) releaseDescriptor(adoption.fd)
      throw new BindError(adoption ? `descriptor ${adoption.fd}` : requested, error)
    }
    // Accept errors (EMFILE, ENFILE, ...) must not crash the process: report them, keep listening.
    server.on('error', (error) => reportListenerError(this, error))
    // EMFILE on accept never reaches that handler (libuv drops the connections): watch for it.
    this.#stopWatch = watchDescriptors(this)
    const bound = server.address() as net.AddressInfo
    this.serverAddress = { address: bound.address, port: bound.port, family: bound.family as 'IPv4' | 'IPv6' }
    this.addressFamily = this.serverAddress.family
  }

  /** Node's `listen()` binds and listens in one call, so `serverBind()` did both; nothing is left to do. */
  override serverActivate(): void {}

  /** The listening socket's descriptor (Python's `fileno()`). */
  override fileno(): number {
    return listeningDescriptor(this.socket)
  }

  /** The PROXY protocol header first when `proxyProtocol` is on (a TLS server's handshake comes after it). */
  protected override connectionStages(): ConnectionStage<net.Socket, InetAddress>[] {
    const stage = proxyProtocolStage<InetAddress>(this.proxyProtocol, proxiedInetAddress, (a) => a.address)
    return stage ? [stage] : []
  }

  #onConnection(socket: net.Socket): void {
    socket.on('error', ignoreSocketError)
    const peer = peerAddress(socket)
    if (peer === undefined) {
      socket.destroy() // the peer was gone before we saw it
      return
    }
    this.admitRequest(socket, peer)
  }

  /** Half-closes (FIN once everything written is flushed), then closes: see `closeRequest()`. */
  override shutdownRequest(request: net.Socket): void {
    this.closeRequest(request)
  }

  /**
   * Sends FIN after what the handler wrote, discards what the client still sends until its FIN
   * (so unread input cannot turn the close into an RST that destroys the reply), then closes the
   * descriptor; bounded by `closeTimeout` and `lingerTimeout`.
   */
  override closeRequest(request: net.Socket): void {
    closeStreamSocket(request, this)
  }

  protected override abortRequest(request: net.Socket): void {
    request.destroy()
  }

  protected override closeListener(): void {
    this.#stopWatch?.()
    // close() stops accepting at once; its callback would wait for every open connection.
    if (this.socket?.listening) this.socket.close()
  }
}

/**
 * The peer's `{ address, port, family }`, `undefined` once it is gone. It is the object Node keeps
 * for `remoteAddress` (`_getpeername()`, in every Node this supports; the getters read it): one
 * object per connection rather than two, an idle connection being what a server has most of.
 */
function peerAddress(socket: net.Socket): InetAddress | undefined {
  const peer = (socket as unknown as { _getpeername?: () => Partial<InetAddress> })._getpeername?.() ?? {
    address: socket.remoteAddress,
    port: socket.remotePort,
    family: socket.remoteFamily as InetAddress['family'],
  }
  return peer.address === undefined || peer.port === undefined ? undefined : (peer as InetAddress)
}

/** The header's source as a client address; a v2 `AF_UNIX` source leaves the connection's own. */
function proxiedInetAddress(header: ProxyHeader, original: InetAddress): InetAddress {
  const source = header.source
  if (!source || !('port' in source)) return original
  return { address: source.address, port: source.port, family: header.family as 'IPv4' | 'IPv6' }
}

/**
 * Many connections at once on the one event loop: what most Node users want. Handlers interleave at
 * each `await`; a CPU-bound handler still blocks the others (use the thread or fork packages).
 */
export class EventLoopTCPServer extends EventLoopMixIn(TCPServer) {}
