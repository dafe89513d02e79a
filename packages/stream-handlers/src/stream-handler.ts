import type { Socket } from 'node:net'
import { BaseRequestHandler } from '@socketserver/core'
import { SocketReader } from './socket-reader.js'
import { SocketWriter } from './socket-writer.js'

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
  timeout: number | null = null
  /** Send small writes at once (`TCP_NODELAY`). Default: `false`. */
  disableNagleAlgorithm = false
  /** Longest line `rfile.readline()` returns, in bytes, newline included. Default: `65536`. */
  maxLineLength = 65_536
  /** Most `rfile.read()` (to end of stream) may buffer, in bytes. Default: `16777216`. */
  maxReadSize = 16 * 1024 * 1024
  /** Largest piece `wfile.write()` hands the socket at once, in bytes. Default: `65536`. */
  writeChunkSize = 65_536

  /** The connection (Python's `connection`): the request socket. */
  connection!: Socket
  rfile!: SocketReader
  wfile!: SocketWriter

  override setup(): void {
    this.connection = this.request
    if (this.disableNagleAlgorithm) this.connection.setNoDelay(true)
    this.rfile = new SocketReader(this.connection, {
      timeout: this.timeout,
      maxLineLength: this.maxLineLength,
      maxReadSize: this.maxReadSize,
    })
    this.wfile = new SocketWriter(this.connection, { timeout: this.timeout, chunkSize: this.writeChunkSize })
  }

  /** Releases `rfile` and `wfile`; the server then shuts the connection down, flushing what was written. */
  override finish(): void {
    this.wfile?.close()
    this.rfile?.close()
  }
}
