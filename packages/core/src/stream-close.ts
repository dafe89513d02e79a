import type { Socket } from 'node:net'
import type { StreamTransport } from './transport.js'

export interface CloseStreamOptions {
  /** Longest the peer may take to read what was written before it is dropped, in ms. */
  closeTimeout: number
  /** Longest to wait for the peer's FIN after ours, discarding what it still sends, in ms. */
  lingerTimeout: number
  /**
   * Most bytes to discard while waiting, after which the connection is reset. Node cannot read
   * into a scratch buffer as nginx does: every discarded chunk is a new allocation, so a peer
   * streaming junk would cost memory at the rate it sends until the garbage collector catches up.
   * Default: `1048576` (1 MiB).
   */
  lingerBytes?: number
}

/**
 * The `'error'` listener every accepted stream socket gets: an error must never crash the process,
 * and it surfaces through the handler's reads and writes. One function for every socket, so that a
 * reader can take its place while attached (stream-handlers' `SocketReader`) instead of making the
 * socket's error listeners an array.
 */
export function ignoreSocketError(): void {}

/** Default of `lingerBytes`. */
export const LINGER_BYTES = 1024 * 1024

/**
 * Closes an accepted stream socket the way a careful server does (nginx's lingering close):
 * FIN after everything written, then read and discard until the peer's FIN before closing the
 * descriptor. Closing with unread input makes the kernel send RST, and an RST can destroy the reply
 * still in flight to the peer (Python's `close()` has that problem). Bounded: `closeTimeout` for a
 * peer that does not read, `lingerTimeout` for one that does not close, `lingerBytes` for one that
 * keeps sending (reset, as Python's close would have done at once).
 */
export function closeStreamSocket(
  socket: Socket,
  { closeTimeout, lingerTimeout, lingerBytes = LINGER_BYTES }: CloseStreamOptions,
): void {
  if (socket.destroyed) return
  // Fast path: the peer has already closed its side and nothing is left to send.
  if (socket.readableEnded && socket.writableLength === 0) {
    socket.end()
    socket.destroy()
    return
  }
  let lingerTimer: NodeJS.Timeout | undefined
  const closeTimer = setTimeout(() => socket.destroy(), closeTimeout)
  socket.once('close', () => {
    clearTimeout(closeTimer)
    clearTimeout(lingerTimer)
  })
  const destroyWhenDone = () => {
    if (socket.writableFinished && socket.readableEnded) socket.destroy()
  }
  socket.once('finish', () => {
    lingerTimer = setTimeout(() => socket.destroy(), lingerTimeout)
    destroyWhenDone()
  })
  if (!socket.readableEnded) {
    let budget = lingerBytes
    socket.on('data', (chunk: Buffer) => {
      budget -= chunk.length
      if (budget < 0) resetSocket(socket)
    })
    socket.once('end', destroyWhenDone)
    socket.resume()
  }
  socket.end()
}

/** RST for TCP (what Python's close with unread input does); pipes have no reset, only close. */
function resetSocket(socket: Socket): void {
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy() // ERR_INVALID_HANDLE_TYPE: a Unix socket
  }
}

/**
 * The `StreamTransport` of a server that closes requests with `closeStreamSocket()` and reads its
 * `closeTimeout`/`lingerTimeout` fields when asked; `acceptPaused` sets the transport's own flag.
 */
export function lingeringStreamTransport(
  addressKind: 'inet' | 'unix',
  server: { readonly closeTimeout: number; readonly lingerTimeout: number },
  acceptPaused: () => void,
): StreamTransport {
  return {
    socketType: 'stream',
    addressKind,
    acceptPaused,
    closeOptions: () => ({
      closeTimeout: server.closeTimeout,
      lingerTimeout: server.lingerTimeout,
      lingerBytes: LINGER_BYTES,
    }),
  }
}
