import type { Socket } from 'node:net'
import { InvalidStateError } from '@socketserver/core'
import { kServeRequests, type RequestHost, type RunningRequest } from '@socketserver/core/transport'
import { checkHandlerOptions } from './handler-options.js'

// The connection a socket belongs to: a property of the socket, so that the listeners can be
// shared by every connection of a server instead of bound to each.
const kConnection = Symbol('socketserver.connection')
type ServedSocket = Socket & { [kConnection]?: Connection<any> }

const ENDED = -1 // `started` once the request has ended
// Who waits for a connection to end: only the one-at-a-time mode asks (settled()).
const WAITERS = new WeakMap<Connection<any>, () => void>()

/**
 * One connection of a `ConnectionHandler`: the socket (`request`), the client's address and the
 * handler's own state for it (`data`). It is also the request's node in the server's tracker.
 */
export class Connection<Data = unknown, ClientAddress = unknown> implements RunningRequest {
  /** Whatever the handler keeps for this connection (set it in `open()`). */
  data: Data | undefined = undefined
  /** @internal the tracker's links */
  prev: Connection<any> | undefined = undefined
  /** @internal */
  next: Connection<any> | undefined = undefined
  /** @internal what the server's `end()` takes back; `-1` once the request has ended */
  started = 0

  constructor(
    /** The handler serving it (one per server). */
    readonly handler: ConnectionHandler<Data, any>,
    /** The connection's socket. */
    readonly request: Socket,
    readonly clientAddress: ClientAddress,
  ) {}

  /** Writes to the socket; false when its buffer is full (wait for its `'drain'`). */
  write(chunk: string | Uint8Array): boolean {
    return this.request.write(chunk)
  }

  /**
   * Closes the connection as the server closes a request (`shutdownRequest()`: FIN after what was
   * written, then the lingering close); a second call does nothing. `data()` and `end()` are not
   * called again.
   */
  end(): void {
    const socket = this.request
    socket.off('data', onData)
    socket.off('end', onEnd)
    if (socket.writableEnded) return // closed already: once is enough
    try {
      this.handler.server.shutdownRequest(this.request)
    } catch {
      // already closed
    }
  }

  /** Closes the connection at once (`abortRequest()`'s reset). */
  destroy(): void {
    this.request.destroy()
  }

  /** See `RunningRequest`. */
  settled(): Promise<void> | undefined {
    if (this.started === ENDED) return undefined
    return new Promise((resolve) => WAITERS.set(this, resolve))
  }
}

/** What a `ConnectionHandler` needs of its server. */
export interface ServerOfHandler {
  shutdownRequest(request: unknown): void
}

/**
 * A callback handler, in the spirit of `Bun.listen`: ONE instance per server, whose methods take
 * the connection, instead of Python's handler instance per request. An idle connection then keeps
 * only its socket and a `Connection` record — no handler object, reader, writer or pending promise
 * (docs/decisions/0017-idle-connection-cost.md). For event-loop and one-at-a-time stream servers
 * (TCP, Unix stream, TLS); the thread and fork pools refuse it.
 *
 * The request starts when the connection is accepted and ends when its socket closes. Errors the
 * methods throw, and the socket's own error, go to the server's `handleError()`; a method that
 * throws also closes the connection.
 */
export class ConnectionHandler<Data = unknown, Server extends ServerOfHandler = any> {
  /** The server, set before the first call. */
  declare readonly server: Server

  /** Called once the connection is accepted. */
  open(_conn: Connection<Data>): void {}

  /** Called with each chunk received. */
  data(_conn: Connection<Data>, _chunk: Buffer): void {}

  /** The client has half-closed (FIN). Default: `conn.end()`, the server's close. */
  end(conn: Connection<Data>): void {
    conn.end()
  }

  /** The socket failed (reported once it closes, just before `close()`). Default: passes it to `handleError()`. */
  error(_conn: Connection<Data>, error: Error): void {
    throw error
  }

  /** Called once the socket has closed; the request ends after it. */
  close(_conn: Connection<Data>): void {}

  /**
   * Core's hook (`kServeRequests`): called once per server; returns what serves each request. The
   * listeners below are made here, once per server, and shared by all its connections.
   */
  static [kServeRequests](this: new () => ConnectionHandler<any, any>, host: RequestHost) {
    let handler: ConnectionHandler<any, any> | undefined // made at the first connection
    return (request: unknown, clientAddress: unknown): RunningRequest => {
      if (!handler) {
        const made = new this()
        checkHandlerOptions(made) // a subclass's options (LineHandler's), once
        ;(made as { server: unknown }).server = host.server
        SERVED.set(made, host)
        handler = made
      }
      const socket = request as ServedSocket
      const conn = new Connection(handler, socket, clientAddress)
      conn.started = host.begin(conn)
      socket[kConnection] = conn
      socket.on('data', onData)
      socket.on('end', onEnd)
      socket.on('close', onClose)
      try {
        handler.open(conn)
      } catch (error) {
        fail(conn, error)
      }
      if (socket.closed) onClose.call(socket) // gone before it was served
      return conn
    }
  }

  // A ConnectionHandler is a RequestHandlerClass for the server's constructor, never run per request.
  setup(): never {
    throw notPerRequest()
  }
  handle(): never {
    throw notPerRequest()
  }
  finish(): never {
    throw notPerRequest()
  }
}

const notPerRequest = () =>
  new InvalidStateError('a ConnectionHandler serves connections itself; it is not run per request')

// The host of each handler's server (one entry per server).
const SERVED = new WeakMap<ConnectionHandler<any, any>, RequestHost>()

function onData(this: ServedSocket, chunk: Buffer): void {
  const conn = this[kConnection]!
  try {
    conn.handler.data(conn, chunk)
  } catch (error) {
    fail(conn, error)
  }
}

function onEnd(this: ServedSocket): void {
  const conn = this[kConnection]!
  try {
    conn.handler.end(conn)
  } catch (error) {
    fail(conn, error)
  }
}

function onClose(this: ServedSocket): void {
  const conn = this[kConnection]!
  if (conn.started === ENDED) return
  const { handler } = conn
  const host = SERVED.get(handler)!
  let reported: Promise<void> | undefined
  const report = (error: unknown) => {
    reported = host.report(conn.request, conn.clientAddress, error)
  }
  const failure = this.errored
  if (failure) {
    try {
      handler.error(conn, failure)
    } catch (error) {
      report(error)
    }
  }
  try {
    handler.close(conn)
  } catch (error) {
    report(error)
  }
  // As a request that failed, this one ends once handleError() is done with it.
  if (reported) reported.finally(() => ended(host, conn))
  else ended(host, conn)
}

function ended(host: RequestHost, conn: Connection<any>): void {
  const started = conn.started
  conn.started = ENDED
  host.end(conn, started)
  WAITERS.get(conn)?.()
}

/** A method threw: no more data for it; the error goes to handleError(), then the connection closes. */
function fail(conn: Connection<any>, error: unknown): void {
  conn.request.off('data', onData)
  conn.request.off('end', onEnd)
  const host = SERVED.get(conn.handler)!
  host.report(conn.request, conn.clientAddress, error).finally(() => conn.end())
}
