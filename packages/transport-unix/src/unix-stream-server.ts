import net from 'node:net'
import {
  BaseServer,
  BindError,
  EventLoopMixIn,
  type EventLoopServerOptions,
  type ProxyHeader,
  type ProxyProtocolSetting,
  type RequestHandlerClass,
  SocketServerError,
} from '@socketserver/core'
import {
  adoptDescriptor,
  type ConnectionStage,
  check,
  checkProxyProtocol,
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

export interface UnixStreamServerOptions extends UnixServerOptions, EventLoopServerOptions {
  /** How long closing a request waits for its unsent data to reach the kernel before dropping it, in ms. Default: `30000`. */
  closeTimeout?: number
  /** After our end of stream, how long to wait for the client's, discarding what it still sends, in ms. Default: `2000`. */
  lingerTimeout?: number
  /**
   * Read a PROXY protocol header at the start of each connection (HAProxy in front of a Unix socket
   * backend): `clientAddress` becomes the original client's address (or path), `proxyInfo(request)`
   * gives the header. See `TCPServerOptions.proxyProtocol`; `trustedProxies` does not apply here.
   * Default: `false`.
   */
  proxyProtocol?: ProxyProtocolSetting
}

/**
 * Python's `UnixStreamServer`: one connection at a time on a Unix stream socket, in the order they
 * arrive. Use `EventLoopUnixStreamServer` to serve many at once on the event loop.
 *
 * The address is a filesystem path, or on Linux an abstract name (a leading `"\0"`). The request
 * is the accepted `net.Socket`; the client address is `''` (Node does not report a Unix peer's
 * name; Python gives `''` too for the usual client, one that did not bind its socket).
 *
 * A socket file left by a server that died is removed at bind (when connecting to it is refused);
 * a live one is `EADDRINUSE`; a file that is not a socket is never touched (`NotASocketError`).
 * `serverClose()` removes the socket file this server bound, and no other.
 */
export class UnixStreamServer extends BaseServer<net.Socket, string, string> {
  static override readonly options: OptionTable = {
    ...unixServerOptions,
    closeTimeout: { default: 30_000, check: check.ms() },
    lingerTimeout: { default: 2_000, check: check.ms() },
    proxyProtocol: proxyProtocolOption,
  }

  readonly socketType = 'stream' as const
  readonly addressFamily = 'Unix' as const
  declare closeTimeout: number
  declare lingerTimeout: number
  declare socketMode: number | undefined
  declare proxyProtocol: ProxyProtocolSetting
  /** The listening `net.Server` (Python's `server.socket`), once bound. */
  socket: net.Server | undefined
  // Set by a concurrency mode (transport.acceptPaused()) so a socket moves on with no byte read here.
  #pauseOnAccept = false
  protected readonly transport: StreamTransport = lingeringStreamTransport('unix', this, () => {
    this.#pauseOnAccept = true
  })
  #stopWatch: (() => void) | undefined
  #file: SocketFileIdentity | undefined

  constructor(
    serverAddress: string,
    RequestHandlerClass: RequestHandlerClass<net.Socket, string, any>,
    options?: UnixStreamServerOptions,
  ) {
    const path = checkUnixPath(serverAddress)
    super(path, RequestHandlerClass, options)
  }

  protected override checkOptions(): void {
    super.checkOptions()
    checkSocketMode(this.socketMode, this.serverAddress)
    checkProxyProtocol(this.proxyProtocol, 'unix')
  }

  /**
   * Clears a stale socket file, then binds and listens (Node does both in one call) with
   * `requestQueueSize` as the backlog. A filesystem socket is bound inside a private directory,
   * given `socketMode`, and only then linked to `serverAddress` (see the README).
   */
  override async serverBind(): Promise<void> {
    if (this.inherited) return this.#adopt()
    const path = this.serverAddress
    checkSocketMode(this.socketMode, path)
    const server = this.#createServer()
    const listen = (at: string) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ path: at, backlog: this.requestQueueSize }, () => {
          server.off('error', reject)
          resolve()
        })
      })
    try {
      if (isAbstractName(path)) {
        await listen(path)
      } else {
        await clearStaleSocket(path, 'datagram')
        // Binding elsewhere and linking also keeps Node from unlinking serverAddress at close
        // whatever is there by then (libuv removes the path it bound, unconditionally).
        this.#file = await bindThroughPrivateDirectory(path, this.socketMode, listen)
        if (!this.#file) {
          await listen(path)
          await applyMode(path, this.socketMode)
          this.#file = await identify(path)
        }
      }
    } catch (error) {
      throw error instanceof SocketServerError ? error : new BindError(path, error)
    }
    this.#watch(server)
  }

  /**
   * The `inherited` option: adopts a listening Unix stream socket passed to this process (socket
   * activation, a restart); `serverAddress` becomes its path. The socket file belongs to whoever
   * bound it (systemd removes its own) unless it came from `restartProcess()`: then this process
   * removes it at close, as the one it replaces would have.
   */
  async #adopt(): Promise<void> {
    const adoption = adoptDescriptor(this.transport, this.inherited!)
    const server = this.#createServer()
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ fd: adoption.fd }, () => {
          server.off('error', reject)
          resolve()
        })
      })
    } catch (error) {
      releaseDescriptor(adoption.fd)
      throw new BindError(`descriptor ${adoption.fd}`, error)
    }
    this.serverAddress = adoption.passed?.path ?? adoption.kind.path ?? ''
    if (adoption.passed?.origin === 'restart' && !isAbstractName(this.serverAddress)) {
      this.#file = await identify(this.serverAddress)
    }
    this.#watch(server)
  }

  #createServer(): net.Server {
    // allowHalfOpen: a client that half-closes (sends its request, then EOF) still gets the reply.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: this.#pauseOnAccept })
    server.on('connection', (socket) => this.#onConnection(socket))
    this.socket = server
    return server
  }

  #watch(server: net.Server): void {
    // Accept errors (EMFILE, ENFILE, ...) must not crash the process: report them, keep listening.
    server.on('error', (error) => reportListenerError(this, error))
    // EMFILE on accept never reaches that handler (libuv drops the connections): watch for it.
    this.#stopWatch = watchDescriptors(this)
  }

  /** Node's `listen()` binds and listens in one call, so `serverBind()` did both; nothing is left to do. */
  override serverActivate(): void {}

  /** The listening socket's descriptor (Python's `fileno()`). */
  override fileno(): number {
    return listeningDescriptor(this.socket)
  }

  /** Another process serves this socket now: closing it here must leave its file in place. */
  override listenerHandedOver(): void {
    this.#file = undefined
  }

  /** The PROXY protocol header when `proxyProtocol` is on. */
  protected override connectionStages(): ConnectionStage<net.Socket, string>[] {
    const stage = proxyProtocolStage<string>(this.proxyProtocol, proxiedUnixAddress, () => '')
    return stage ? [stage] : []
  }

  #onConnection(socket: net.Socket): void {
    socket.on('error', ignoreSocketError)
    this.admitRequest(socket, socket.remoteAddress ?? '')
  }

  /** Half-closes (end of stream once everything written is flushed), then closes: see `closeRequest()`. */
  override shutdownRequest(request: net.Socket): void {
    this.closeRequest(request)
  }

  /**
   * As TCP (core's `closeStreamSocket`): ends our side after what the handler wrote, discards what
   * the client still sends until its end of stream, then closes. Closing a Unix socket with unread
   * input makes the client's next read fail with ECONNRESET instead of seeing the end of stream.
   * Bounded by `closeTimeout` and `lingerTimeout`.
   */
  override closeRequest(request: net.Socket): void {
    closeStreamSocket(request, this)
  }

  protected override abortRequest(request: net.Socket): void {
    request.destroy()
  }

  /** Stops accepting, then removes the socket file if `serverAddress` still names the one bound here. */
  protected override async closeListener(): Promise<void> {
    this.#stopWatch?.()
    // close() stops accepting at once; its callback would wait for every open connection.
    if (this.socket?.listening) this.socket.close()
    const file = this.#file
    this.#file = undefined
    await removeOwnSocketFile(this.serverAddress, file)
  }
}

/**
 * Many connections at once on the one event loop: what most Node users want. Handlers interleave at
 * each `await`; a CPU-bound handler still blocks the others (use the thread or fork packages).
 */
export class EventLoopUnixStreamServer extends EventLoopMixIn(UnixStreamServer) {}

/** The header's source address (or path) as the client address. */
function proxiedUnixAddress(header: ProxyHeader, original: string): string {
  const source = header.source
  return source ? ('path' in source ? source.path : source.address) : original
}
