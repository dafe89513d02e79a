import type { Socket } from 'node:net'
import { BaseRequestHandler, SocketTimeoutError } from '@socketserver/core'
import { check, type OptionTable } from '@socketserver/core/transport'
import { checkHandlerOptions, setOptionDefaults } from './handler-options.js'
import { SocketReader } from './socket-reader.js'
import { SocketWriter } from './socket-writer.js'

// What disarms a handler's idle and request deadlines, for the handlers that have them: kept here
// rather than in a field every handler (and idle connection) would carry.
const DEADLINES = new WeakMap<object, () => void>()

/**
 * Python's `StreamRequestHandler` for TCP and Unix stream servers: `setup()` gives the handler
 * `rfile` (a buffered reader) and `wfile` (a writer that honours backpressure) over the connection.
 * Set the fields below in a subclass (`override timeout = 30_000`).
 */
export class StreamRequestHandler<ClientAddress = unknown, Server = unknown> extends BaseRequestHandler<
  Socket,
  ClientAddress,
  Server
> {
  /** Longest one read or write may wait, in ms (Python's `timeout`); then it rejects with `SocketTimeoutError`. `null`: forever. Default: `null`. */
  declare timeout: number | null
  /** Send small writes at once (`TCP_NODELAY`). Default: `false`. */
  declare disableNagleAlgorithm: boolean
  /** Longest line `rfile.readline()` returns, in bytes, newline included. Default: `65536`. */
  declare maxLineLength: number
  /** Most `rfile.read()` (to end of stream) may buffer, in bytes. Default: `16777216`. */
  declare maxReadSize: number
  /** Largest piece `wfile.write()` hands the socket at once, in bytes. Default: `65536`. */
  declare writeChunkSize: number
  /**
   * Destroys the connection once nothing has been received or sent for this long, in ms (Netty's
   * `IdleStateHandler` all-idle); a read or write waiting then rejects with `SocketTimeoutError`
   * (`operation: 'idle'`). Unlike `timeout`, it also ends a handler that is not reading. `null`: never.
   * Default: `null`.
   */
  declare idleTimeout: number | null
  /**
   * Destroys the connection once the request has run this long in all, in ms, however busy it is
   * (a client trickling a byte a second never trips `timeout` or `idleTimeout`); a read or write
   * waiting then rejects with `SocketTimeoutError` (`operation: 'request'`). `null`: never. Default: `null`.
   */
  declare requestTimeout: number | null

  /**
   * The options above: default and check (`check.*` from `@socketserver/core/transport`). A subclass
   * with options of its own declares its own table; the tables merge along the class chain. Values
   * are checked once per handler class, in the first `setup()`.
   */
  static readonly options: OptionTable = {
    timeout: { default: null, check: check.ms({ nullable: true }) },
    disableNagleAlgorithm: { default: false, check: check.boolean },
    maxLineLength: { default: 65_536, check: check.integer({ min: 1 }) },
    maxReadSize: { default: 16 * 1024 * 1024, check: check.integer({ min: 1 }) },
    writeChunkSize: { default: 65_536, check: check.integer({ min: 1 }) },
    idleTimeout: { default: null, check: check.ms({ nullable: true }) },
    requestTimeout: { default: null, check: check.ms({ nullable: true }) },
  }

  static {
    // Defaults on the prototype, not copied into every handler (an idle connection keeps its handler);
    // a subclass's `override timeout = 30_000` is a field of its own, as before.
    setOptionDefaults(StreamRequestHandler.prototype, StreamRequestHandler.options)
  }

  /** The connection (Python's `connection`): the request socket. */
  connection!: Socket
  rfile!: SocketReader
  wfile!: SocketWriter

  override setup(): void {
    checkHandlerOptions(this)
    this.connection = this.request
    if (this.disableNagleAlgorithm) this.connection.setNoDelay(true)
    if (this.idleTimeout !== null || this.requestTimeout !== null) {
      DEADLINES.set(this, armDeadlines(this.connection, this.idleTimeout, this.requestTimeout))
    }
    this.rfile = new SocketReader(this.connection, {
      timeout: this.timeout,
      maxLineLength: this.maxLineLength,
      maxReadSize: this.maxReadSize,
    })
    this.wfile = new SocketWriter(this.connection, { timeout: this.timeout, chunkSize: this.writeChunkSize })
  }

  /** Releases `rfile` and `wfile`; the server then shuts the connection down, flushing what was written. */
  override finish(): void {
    DEADLINES.get(this)?.()
    this.wfile?.close()
    this.rfile?.close()
  }
}

/**
 * Arms the idle and total deadlines on a connection; returns the function that disarms them.
 * Expiry destroys the socket with the `SocketTimeoutError`, which is how a waiting read or write
 * learns of it. A `net.Socket` has its own idle timer, refreshed by every read and write;
 * a socket-like stream without one (a thread pool's proxy) is watched through its `'data'` events.
 */
function armDeadlines(socket: Socket, idleMs: number | null, requestMs: number | null): () => void {
  const expire = (operation: 'idle' | 'request', ms: number) => () => {
    if (!socket.destroyed) socket.destroy(new SocketTimeoutError(operation, ms))
  }
  let requestTimer: NodeJS.Timeout | undefined
  if (requestMs !== null) requestTimer = setTimeout(expire('request', requestMs), requestMs)
  if (idleMs === null) return () => clearTimeout(requestTimer)
  const onIdle = expire('idle', idleMs)
  if (typeof socket.setTimeout === 'function') {
    socket.setTimeout(idleMs)
    socket.on('timeout', onIdle)
    return () => {
      clearTimeout(requestTimer)
      socket.off('timeout', onIdle)
      socket.setTimeout(0)
    }
  }
  const idleTimer = setTimeout(onIdle, idleMs)
  const refresh = () => idleTimer.refresh()
  socket.on('data', refresh)
  return () => {
    clearTimeout(requestTimer)
    clearTimeout(idleTimer)
    socket.off('data', refresh)
  }
}
