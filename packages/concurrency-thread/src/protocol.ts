import type { MessagePort } from 'node:worker_threads'
import type { SerializedError } from '@socketserver/core'
import type { ConnectionHandoff, TLSDetails } from '@socketserver/core/transport'

/** What every worker gets in `workerData` (besides core's HANDLER_WORKER_MARK). */
export interface WorkerSetup {
  handlerModule: string
  handlerExport: string | undefined
  className: string
  server: RemoteServerInfo
  /** How long the worker's shutdown of a transferred socket waits for unsent data, in ms. */
  closeTimeout: number
}

/** What a handler's `this.server` shows in a worker. */
export interface RemoteServerInfo {
  serverAddress: unknown
  socketType: 'stream' | 'dgram'
  addressFamily: string | undefined
}

/** The socket facts a proxied connection shows in the worker (`remoteAddress`, ...). */
export interface SocketInfo {
  remoteAddress: string | undefined
  remotePort: number | undefined
  remoteFamily: string | undefined
  localAddress: string | undefined
  localPort: number | undefined
  /** A TLS connection (it terminates in the main thread): what the handler may read of it. */
  tls?: TLSDetails
}

// main → worker, on the worker's parentPort
export type ToWorker =
  | { t: 'socket'; id: number; socket: unknown; clientAddress: unknown }
  | {
      t: 'proxy'
      id: number
      port: MessagePort
      clientAddress: unknown
      info: SocketInfo
      /** What a connection stage learnt (a PROXY header); its bytes left over reach the link as data. */
      handoff?: ConnectionHandoff
    }
  | { t: 'dgram'; id: number; packet: Uint8Array; clientAddress: unknown }
  | { t: 'abort'; id: number }
  /** Shut down a transferred socket the worker kept after its handler threw (see `held`). */
  | { t: 'release'; id: number }
  | { t: 'sent'; sid: number; error?: SerializedError }
  | { t: 'shutdown-done'; sid: number }

// worker → main, on the worker's parentPort
export type FromWorker =
  | { t: 'ready' }
  | { t: 'fatal'; message: string; error?: SerializedError }
  /** `held`: the worker keeps the transferred socket open until `release`, so handleError runs first. */
  | { t: 'done'; id: number; error?: SerializedError; held?: boolean }
  | { t: 'send'; id: number; sid: number; data: Uint8Array; port?: number; address: string }
  | { t: 'shutdown'; sid: number }

// main → worker, on a proxied connection's own port. Bytes travel bare (a Uint8Array, not wrapped
// in an object): the most frequent message is the cheapest to clone.
export type ToProxy =
  | Uint8Array
  | { t: 'end' }
  | { t: 'close'; error?: SerializedError }
  /** `bytes` more of the handler's writes have reached the real socket's kernel buffer (credit back). */
  | { t: 'ack'; bytes: number }

// worker → main, on a proxied connection's own port. `done` travels here, not on parentPort, so
// that it arrives after every `write` (two ports keep no order between them).
export type FromProxy =
  | Uint8Array
  | { t: 'fin' }
  | { t: 'destroy' }
  | { t: 'pause' }
  | { t: 'resume' }
  | { t: 'nodelay'; value: boolean }
  | { t: 'keepalive'; enable: boolean; delay: number }
  | { t: 'done'; error?: SerializedError }

/**
 * How many bytes a handler may write ahead of the real socket on a proxied connection: past it,
 * its writes wait for the main thread's acknowledgement (the socket took them). Acknowledgements
 * go back every quarter of it, or when the socket drains, so small request/reply traffic costs none.
 */
export const WRITE_WINDOW = 1024 * 1024

/**
 * The bytes of `chunk` in an ArrayBuffer of their own. postMessage clones a typed array's whole
 * ArrayBuffer, not just the view: a 64 KiB piece of a 32 MiB reply, or 64 bytes of Buffer's
 * 8 KiB pool, would otherwise copy all of it, every time.
 */
export function ownBytes(chunk: Uint8Array): Uint8Array {
  return chunk.byteLength === chunk.buffer.byteLength ? chunk : Uint8Array.prototype.slice.call(chunk)
}

export function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
}

/** A socket's or a send's error from the other thread, rebuilt with its code (ECONNRESET, EPIPE, ...). */
export function systemError(error: SerializedError): Error {
  // a system error, as Node's
  return Object.assign(new Error(error.message), error)
}
