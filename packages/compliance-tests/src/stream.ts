import net from 'node:net'
import type { Duplex } from 'node:stream'
import tls from 'node:tls'
import type { ComplianceClient, HandlerIO, SuiteHandler } from './types.js'

/** Reads lines from a duplex stream without taking it over (no stream-handlers dependency). */
class LineReader {
  #buffer = Buffer.alloc(0)
  #ended = false
  #wake: (() => void) | undefined

  constructor(stream: Duplex) {
    const wake = () => {
      const w = this.#wake
      this.#wake = undefined
      w?.()
    }
    const end = () => {
      this.#ended = true
      wake()
    }
    stream.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk])
      wake()
    })
    stream.once('end', end)
    stream.once('close', end)
    stream.once('error', end)
  }

  async readLine(): Promise<Buffer> {
    for (;;) {
      const newline = this.#buffer.indexOf(10)
      if (newline >= 0 || this.#ended) {
        const size = newline >= 0 ? newline + 1 : this.#buffer.length
        const line = this.#buffer.subarray(0, size)
        this.#buffer = this.#buffer.subarray(size)
        return line
      }
      await new Promise<void>((resolve) => (this.#wake = resolve))
    }
  }
}

const readers = new WeakMap<Duplex, LineReader>()

/**
 * `HandlerIO` for stream servers whose request is the connection itself (a `net.Socket` or any
 * duplex): `read` returns the next line, `write` resolves once the socket took the bytes.
 */
export const streamIO: HandlerIO = {
  read(handler: SuiteHandler): Promise<Buffer> {
    const stream = handler.request as Duplex
    let reader = readers.get(stream)
    if (!reader) readers.set(stream, (reader = new LineReader(stream)))
    return reader.readLine()
  },
  write(handler: SuiteHandler, data: Buffer): Promise<void> {
    const stream = handler.request as Duplex
    return new Promise((resolve, reject) => {
      stream.write(data, (error) => (error ? reject(error) : resolve()))
    })
  },
}

/** A stream client; `socket` is there for transport-specific checks. */
export interface StreamClient extends ComplianceClient {
  readonly socket: net.Socket
  /** Half-closes: sends FIN, keeps reading. */
  end(): Promise<void>
  /** The error the connection ended with (e.g. `ECONNRESET`), if any. */
  readonly error: Error | undefined
}

/**
 * Connects with `net.connect(options)` (TCP `{ host, port }` or Unix `{ path }`) and resolves once
 * connected; rejects with the connect error (e.g. `ECONNREFUSED`).
 */
export function connectStream(options: net.NetConnectOpts): Promise<StreamClient> {
  return streamClient(net.connect({ ...options, allowHalfOpen: true }), 'connect')
}

/**
 * Connects with `tls.connect(options)` (TCP `{ host, port }` or Unix `{ path }`, plus `ca`,
 * `servername`, ...) and resolves once the handshake is done; rejects with the connect or handshake
 * error. For TLS servers (`@socketserver/transport-tls`).
 */
export function connectTLS(options: tls.ConnectionOptions): Promise<StreamClient> {
  return streamClient(
    tls.connect({ ...options, allowHalfOpen: true } as tls.ConnectionOptions),
    'secureConnect',
  )
}

function streamClient(socket: net.Socket, connected: 'connect' | 'secureConnect'): Promise<StreamClient> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let ended = false
    let error: Error | undefined
    let wake: (() => void) | undefined
    const notify = () => {
      const w = wake
      wake = undefined
      w?.()
    }
    const onConnectError = (e: Error) => {
      socket.destroy()
      reject(e)
    }
    socket.once('error', onConnectError)
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      notify()
    })
    const end = () => {
      ended = true
      notify()
    }
    socket.once('end', end)
    socket.once('close', end)
    socket.once(connected, () => {
      socket.off('error', onConnectError)
      socket.on('error', (e) => {
        error = e
        end()
      })
      resolve({
        socket,
        get error() {
          return error
        },
        send(data) {
          return new Promise((res, rej) => socket.write(data, (e) => (e ? rej(e) : res())))
        },
        async receive() {
          while (chunks.length === 0 && !ended) await new Promise<void>((r) => (wake = r))
          return chunks.shift() ?? Buffer.alloc(0)
        },
        end() {
          return new Promise((res) => socket.end(res))
        },
        async close() {
          if (socket.closed) return
          const closed = new Promise((r) => socket.once('close', r))
          socket.destroy()
          await closed
        },
      })
    })
  })
}
