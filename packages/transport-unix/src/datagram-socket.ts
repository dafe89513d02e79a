import type { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import { isMainThread } from 'node:worker_threads'
import { InvalidArgumentError, NativeModuleError } from '@socketserver/core'
import { isAbstractName } from './path.js'

/**
 * The part of `node-unix-socket`'s `DgramSocket` used here. This file is the only one that loads
 * the library (docs/decisions/0005-unix-datagram-library.md says why this one and how it is used).
 */
interface NativeDgramSocket extends EventEmitter {
  bind(path: string): void
  sendTo(
    buffer: Buffer,
    offset: number,
    length: number,
    path: string,
    callback?: (error?: Error) => void,
  ): void
  close(): void
  getRecvBufferSize(): number
  setRecvBufferSize(size: number): void
  getSendBufferSize(): number
  setSendBufferSize(size: number): void
}

type NativeDgramSocketClass = new () => NativeDgramSocket

/** The most one receive returns: the library reads into a 65535-byte buffer, and a longer datagram is cut to that. */
export const MAX_RECEIVED_DATAGRAM = 65_535

let library: NativeDgramSocketClass | undefined

/**
 * Loads the library on first use, so that importing the package (for UnixStreamServer) never loads
 * the binary. Its `js/dgram.js`, not its main module: that one, loaded in a worker thread,
 * registers a cleanup hook that closes every handle of the process (other threads' too, and ones
 * already closed) when the first such worker ends, which aborted the process in 18 of 20 runs of
 * two workers at once (the ADR has the numbers). With require(), not import(): a dynamic import()
 * of this CommonJS module now and then gave an empty namespace on Node 20.
 */
function loadLibrary(): NativeDgramSocketClass {
  if (library) return library
  let module: { DgramSocket?: NativeDgramSocketClass }
  try {
    module = createRequire(import.meta.url)('node-unix-socket/js/dgram.js')
  } catch (error) {
    throw new NativeModuleError(
      `Unix datagram sockets need the native library node-unix-socket, which has no binary for ${process.platform}-${process.arch} here: ${(error as Error)?.message ?? error}`,
      { cause: error },
    )
  }
  if (typeof module.DgramSocket !== 'function')
    throw new NativeModuleError(
      'Unix datagram sockets need the native library node-unix-socket, whose js/dgram.js has no DgramSocket export here (an unexpected version?)',
    )
  library = module.DgramSocket
  return library
}

/**
 * Sockets open in this worker thread. A worker's event loop must have no native handle left when
 * it is torn down (Node aborts the process otherwise): `process.exit()` in a worker runs 'exit'
 * listeners, so they are closed there. `worker.terminate()` runs none: close servers first.
 */
const openInThisWorker = new Set<UnixDatagramSocket>()
let exitHookInstalled = false

function trackInWorker(socket: UnixDatagramSocket): void {
  if (isMainThread) return
  openInThisWorker.add(socket)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const open of openInThisWorker) open.close()
  })
}

// The library reports errors by their strerror text only (from Rust's nix crate); Node code expects `code`.
const CODES: Record<string, string> = {
  'Address already in use': 'EADDRINUSE',
  'Cannot assign requested address': 'EADDRNOTAVAIL',
  'Connection refused': 'ECONNREFUSED',
  'Destination address required': 'EDESTADDRREQ',
  'File name too long': 'ENAMETOOLONG',
  'Invalid argument': 'EINVAL',
  'Message too long': 'EMSGSIZE',
  'No buffer space available': 'ENOBUFS',
  'No such file or directory': 'ENOENT',
  'Not a directory': 'ENOTDIR',
  'Operation not permitted': 'EPERM',
  'Permission denied': 'EACCES',
  'Protocol wrong type for socket': 'EPROTOTYPE',
  'Read-only file system': 'EROFS',
  'Resource temporarily unavailable': 'EAGAIN',
  'Too many levels of symbolic links': 'ELOOP',
  'Too many open files': 'EMFILE',
  'Too many symbolic links encountered': 'ELOOP',
  'Try again': 'EAGAIN',
  'path to bind is too long': 'ENAMETOOLONG',
}

function toSystemError(error: unknown, syscall: string, path: string): NodeJS.ErrnoException {
  const message = (error as Error)?.message ?? String(error)
  const code = CODES[message] ?? 'UNKNOWN'
  return Object.assign(
    new Error(`${syscall} ${code}: ${message} ${JSON.stringify(path)}`, { cause: error }), // a system error, as Node's
    {
      code,
      syscall,
      path,
    },
  )
}

export type DatagramListener = (packet: Buffer, senderPath: string) => void

/**
 * A Unix datagram socket (`AF_UNIX`, `SOCK_DGRAM`): the `socket` of a `UnixDatagramServer`
 * request, which replies are sent from, as in Python's `(data, socket)`.
 *
 * ```ts
 * const [packet, socket] = this.request
 * await socket.send(packet, this.clientAddress)
 * ```
 */
export class UnixDatagramSocket {
  readonly #native: NativeDgramSocket
  #closed = false
  #pending: Array<[Buffer, string]> = []
  #flushScheduled = false

  private constructor(
    native: NativeDgramSocket,
    onMessage: DatagramListener,
    onError: (error: Error) => void,
  ) {
    this.#native = native
    // The library re-emits each datagram ('_data', straight from the poll callback) as 'data'
    // through process.nextTick. Node 26 does not drain that queue after such a callback, so 'data'
    // waited for some unrelated event (measured: replies never came). Listening on '_data' and
    // moving to a setImmediate (a real callback scope) delivers at once on every Node version; one
    // setImmediate carries every datagram read in the same poll.
    const deliver = () => {
      this.#flushScheduled = false
      const batch = this.#pending
      this.#pending = []
      for (const [packet, sender] of batch) {
        if (this.#closed) return
        onMessage(packet, sender)
      }
    }
    const receive = (packet: Buffer, sender: string) => {
      this.#pending.push([packet, sender ?? ''])
      if (!this.#flushScheduled) {
        this.#flushScheduled = true
        setImmediate(deliver)
      }
    }
    if (native.listenerCount('_data') > 0) {
      native.removeAllListeners('_data')
      native.on('_data', receive)
    } else {
      native.on('data', receive) // a later library version without the internal event
    }
    // The library closes the socket before emitting 'error' (a failed recvmsg).
    native.on('error', (error: Error) => {
      this.#closed = true
      openInThisWorker.delete(this)
      setImmediate(onError, error)
    })
  }

  /** Creates an unbound socket that passes every datagram it receives to `onMessage`. */
  static async open(
    onMessage: DatagramListener,
    onError: (error: Error) => void,
  ): Promise<UnixDatagramSocket> {
    const DgramSocket = loadLibrary()
    const socket = new UnixDatagramSocket(new DgramSocket(), onMessage, onError)
    trackInWorker(socket)
    return socket
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Binds to a filesystem path; throws a system error (`code` `EADDRINUSE`, `ENOENT`, `EACCES`, ...). */
  bind(path: string): void {
    try {
      this.#native.bind(path)
    } catch (error) {
      throw toSystemError(error, 'bind', path)
    }
  }

  /**
   * Sends one datagram to the socket bound at `path`; resolves once the kernel took it (a full
   * receiver queue makes it wait, it is not dropped). Rejects with a system error: `ENOENT` or
   * `ECONNREFUSED` when nobody is bound at `path` any more, `EMSGSIZE` when it is too large, and
   * `EDESTADDRREQ` for an empty path (a client that did not bind its socket has no address).
   */
  send(data: Uint8Array | string, path: string, callback?: (error: Error | null) => void): Promise<void> {
    const sent = this.#send(data, path)
    if (callback) sent.then(() => callback(null), callback)
    return sent
  }

  #send(data: Uint8Array | string, path: string): Promise<void> {
    if (this.#closed) return Promise.reject(toSystemError('Bad file descriptor', 'sendto', path))
    if (typeof path !== 'string' || path === '') {
      return Promise.reject(
        Object.assign(
          // a system error, as Node's
          new Error(
            'sendto EDESTADDRREQ: the client has no address (its socket is not bound to a path), so there is nowhere to send to',
          ),
          { code: 'EDESTADDRREQ', syscall: 'sendto', path: '' },
        ),
      )
    }
    if (isAbstractName(path)) {
      return Promise.reject(
        new InvalidArgumentError(
          'Unix datagram sockets here cannot send to abstract names (see the package README)',
        ),
      )
    }
    const buffer =
      typeof data === 'string'
        ? Buffer.from(data)
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    return new Promise<void>((resolve, reject) => {
      let synchronous = true
      const done = (error?: Error) => {
        const settle = () => (error ? reject(toSystemError(error, 'sendto', path)) : resolve())
        // A send queued on EAGAIN completes from the poll callback: hop to a callback scope (see above).
        if (synchronous) settle()
        else setImmediate(settle)
      }
      try {
        this.#native.sendTo(buffer, 0, buffer.length, path, done)
      } catch (error) {
        reject(toSystemError(error, 'sendto', path))
      }
      synchronous = false
    })
  }

  /** `SO_RCVBUF`, in bytes: how much the kernel queues for this socket before senders wait. */
  get receiveBufferSize(): number {
    return this.#native.getRecvBufferSize()
  }

  set receiveBufferSize(bytes: number) {
    this.#native.setRecvBufferSize(bytes)
  }

  /** `SO_SNDBUF`, in bytes. */
  get sendBufferSize(): number {
    return this.#native.getSendBufferSize()
  }

  set sendBufferSize(bytes: number) {
    this.#native.setSendBufferSize(bytes)
  }

  /** Closes the socket (it does not remove its file: the server does that). Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#pending = []
    openInThisWorker.delete(this)
    try {
      this.#native.close()
    } catch {
      // already closed by the library after an error
    }
  }
}

const ignoreDatagram = () => {}

/**
 * Sends one datagram to the service manager's `NOTIFY_SOCKET` (a Unix datagram socket), for core's
 * `ServiceNotifier` (`send` option): from a fresh unbound socket, closed once sent, so nothing
 * stays open between notifications (a few a second at most). A filesystem path only: the native
 * library cannot address an abstract name (docs/decisions/0005-unix-datagram-library.md).
 */
export async function sendNotification(message: Buffer, address: string): Promise<void> {
  const socket = await UnixDatagramSocket.open(ignoreDatagram, ignoreDatagram)
  try {
    await socket.send(message, address)
  } finally {
    socket.close()
  }
}
