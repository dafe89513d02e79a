import { SocketTimeoutError } from '@socketserver/core'
import { DatagramRequestHandler, StreamRequestHandler } from '@socketserver/stream-handlers'

/** Counters shared by every connection of one echo server: for the shutdown summary and the bench. */
export interface EchoStats {
  /** Connections whose handler started. */
  connections: number
  /** Datagrams echoed (UDP and Unix datagram listeners). */
  datagrams: number
  /** Bytes sent back to clients. */
  bytes: number
  /** Connections closed because the client sent nothing for `idleTimeout` ms. */
  idleClosed: number
}

export function createEchoStats(): EchoStats {
  return { connections: 0, datagrams: 0, bytes: 0, idleClosed: 0 }
}

/**
 * RFC 862 echo: every byte received goes back to the sender until the client closes its side; then
 * the server closes the connection. `rfile.copyTo(wfile)` (Python's `shutil.copyfileobj`) sends
 * each chunk back as it arrives, pausing the client while it does not read its echo, with no promise
 * per chunk. `timeout` (ms, `null` = never) is the idle limit: no data for that long (or an echo the
 * client does not read for that long) ends the connection quietly.
 */
export class EchoHandler extends StreamRequestHandler {
  // Every reply is something the client is waiting for: send it now, not after the previous ACK.
  override disableNagleAlgorithm = true

  override async handle(): Promise<void> {
    try {
      this.echoed(await this.rfile.copyTo(this.wfile))
    } catch (error) {
      if (error instanceof SocketTimeoutError) return this.idleTimedOut()
      // A client that resets or vanishes mid-echo is an ordinary end for an echo server, not an error.
      if (isPeerGone(error)) return
      throw error
    }
  }

  /** Called with the bytes sent back once the client has closed; the configured handler counts them. */
  protected echoed(_bytes: number): void {}

  /** Called when the connection is closed for being idle. */
  protected idleTimedOut(): void {}
}

export interface EchoHandlerOptions {
  /** Close a connection that sends nothing for this long, in ms; `null` or `0` never does. Default: `null`. */
  idleTimeout?: number | null
  /** Counters to update. Default: none. */
  stats?: EchoStats
}

/** An `EchoHandler` subclass with the idle timeout set and counting into `stats`. */
export function createEchoHandler({
  idleTimeout = null,
  stats,
}: EchoHandlerOptions = {}): typeof EchoHandler {
  const timeout = idleTimeout ? idleTimeout : null
  return class ConfiguredEchoHandler extends EchoHandler {
    override timeout = timeout

    override setup(): void {
      super.setup()
      if (stats) stats.connections++
    }

    protected override echoed(bytes: number): void {
      if (stats) stats.bytes += bytes
    }

    protected override idleTimedOut(): void {
      if (stats) stats.idleClosed++
    }
  }
}

/** RFC 862 over datagrams: the datagram goes back to its sender, from the server's address. */
export class DatagramEchoHandler extends DatagramRequestHandler<any> {
  override async handle(): Promise<void> {
    await this.wfile.write(this.packet)
  }
}

/** A `DatagramEchoHandler` counting into `stats`. */
export function createDatagramEchoHandler({ stats }: { stats?: EchoStats } = {}): typeof DatagramEchoHandler {
  return class ConfiguredDatagramEchoHandler extends DatagramEchoHandler {
    override async handle(): Promise<void> {
      await super.handle()
      if (stats) {
        stats.datagrams++
        stats.bytes += this.packet.length
      }
    }
  }
}

const PEER_GONE = new Set([
  'SOCKSRV_CONNECTION_CLOSED',
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_PREMATURE_CLOSE',
])

function isPeerGone(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && PEER_GONE.has(code)
}
