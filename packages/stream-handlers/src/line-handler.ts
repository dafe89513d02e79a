import { LineTooLongError } from '@socketserver/core'
import { check, type OptionTable } from '@socketserver/core/transport'
import { type Connection, ConnectionHandler, type ServerOfHandler } from './connection-handler.js'
import { setOptionDefaults } from './handler-options.js'

const NEWLINE = 0x0a
const indexOfByte = Uint8Array.prototype.indexOf

// The start of a line still waiting for its end, per connection: in a map rather than a field of
// every `Connection`, since an idle line-protocol connection has none.
const PARTIAL = new WeakMap<Connection<any>, Buffer>()

/**
 * A `ConnectionHandler` for line protocols: `line(conn, line)` is called with each line, its `\n`
 * included (as `rfile.readline()` returns it), on the same one-handler-per-server path. A chunk
 * that holds whole lines is cut into them without a copy; only a line split across chunks is held
 * until its end comes. At end of stream a last line without `\n` is delivered as it is, then
 * `end(conn)` closes the connection. A line longer than `maxLineLength` is an error: it goes to
 * the server's `handleError()` (`LineTooLongError`) and the connection is closed.
 */
export class LineHandler<Data = unknown, Server extends ServerOfHandler = any> extends ConnectionHandler<
  Data,
  Server
> {
  /** Longest line, in bytes, newline included. Default: `65536`. */
  declare maxLineLength: number

  /** The option above; checked when the first connection is accepted (`SOCKSRV_INVALID_ARGUMENT`, to `handleError()`). */
  static readonly options: OptionTable = {
    maxLineLength: { default: 65_536, check: check.integer({ min: 1 }) },
  }

  static {
    setOptionDefaults(LineHandler.prototype, LineHandler.options)
  }

  /** Called with each line received, `\n` included (the last one may lack it, at end of stream). */
  line(_conn: Connection<Data>, _line: Buffer): void {}

  /** Cuts `chunk` into lines for `line()`; override only to see the raw bytes (then call `super.data()`). */
  override data(conn: Connection<Data>, chunk: Buffer): void {
    const held = PARTIAL.get(conn)
    let newline = indexOfByte.call(chunk, NEWLINE)
    // One whole line, nothing held: a request-response protocol's usual chunk, handed on as it is.
    if (held === undefined && newline === chunk.length - 1) {
      this.#deliver(conn, chunk)
      return
    }
    let start = 0
    if (held !== undefined) {
      if (newline < 0) {
        this.#hold(conn, Buffer.concat([held, chunk]))
        return
      }
      PARTIAL.delete(conn)
      this.#deliver(conn, Buffer.concat([held, chunk.subarray(0, newline + 1)]))
      start = newline + 1
      newline = indexOfByte.call(chunk, NEWLINE, start)
    }
    while (newline >= 0) {
      if (!served(conn)) return
      this.#deliver(conn, chunk.subarray(start, newline + 1))
      start = newline + 1
      newline = indexOfByte.call(chunk, NEWLINE, start)
    }
    // A copy: a view would keep the whole chunk alive for a few bytes.
    if (start < chunk.length && served(conn)) this.#hold(conn, Buffer.from(chunk.subarray(start)))
  }

  /** The client half-closed: the last line without `\n`, if any, then `conn.end()`. Call `super.end()` when overriding. */
  override end(conn: Connection<Data>): void {
    const held = PARTIAL.get(conn)
    if (held !== undefined) {
      PARTIAL.delete(conn)
      this.line(conn, held)
    }
    conn.end()
  }

  #deliver(conn: Connection<Data>, line: Buffer): void {
    if (line.length > this.maxLineLength) throw new LineTooLongError(this.maxLineLength)
    this.line(conn, line)
  }

  #hold(conn: Connection<Data>, start: Buffer): void {
    // Past the limit with no end in sight: refused now, not once the line has grown without bound.
    if (start.length > this.maxLineLength) throw new LineTooLongError(this.maxLineLength)
    PARTIAL.set(conn, start)
  }
}

/** Whether lines are still wanted: `line()` may have ended or destroyed the connection. */
function served(conn: Connection<any>): boolean {
  const socket = conn.request
  return !socket.writableEnded && !socket.destroyed
}
