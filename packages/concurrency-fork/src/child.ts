/**
 * The entry point of every child process a forking server starts. It imports the user's handler
 * module, then runs the handler (`setup`/`handle`/`finish`) on each connection or datagram the
 * parent passes it, many at once on its own event loop, until the parent retires it or goes away.
 */
import type net from 'node:net'
import {
  InvalidStateError,
  RemoteHandlerError,
  type RequestHandlerClass,
  runHandler,
} from '@socketserver/core'
import {
  applyTLSDetails,
  closeStreamSocket,
  ignoreSocketError,
  loadHandlerClass,
  receiveHandoff,
} from '@socketserver/core/transport'
import type { RequestKind, ToChild, ToParent } from './protocol.js'

let Handler: RequestHandlerClass | undefined
let kind: RequestKind = 'stream'
let closeTimeout = 30_000
let lingerTimeout = 2_000
let retiring = false
const inFlight = new Map<number, () => void>()
let nextSeq = 0
const pendingSends = new Map<number, { resolve: () => void; reject: (error: Error) => void }>()
const errorHandled = new Map<number, () => void>()

/**
 * Reports a handler's error and waits until the parent's handleError() has run, so that, as in
 * Python, the error is handled before the request is shut down.
 */
function reportError(id: number, error: unknown): Promise<void> {
  if (!process.connected) return Promise.resolve()
  return new Promise((resolve) => {
    errorHandled.set(id, resolve)
    post({ t: 'error', id, error: RemoteHandlerError.serialize(error) })
  })
}

/** What `this.server` is in a child: the parent's server is in another process. */
const serverView = {
  serverAddress: undefined as unknown,
  socketType: 'stream' as 'stream' | 'dgram',
  addressFamily: undefined as string | undefined,
  /** This child's process id. */
  pid: process.pid,
  /** Asks the parent to stop its serve loop (safe from a handler, as in the parent). */
  shutdown(): Promise<void> {
    post({ t: 'shutdown' })
    return Promise.resolve()
  },
}

function post(message: ToParent, sent?: () => void): void {
  // The channel is gone when the parent died: nothing to report to.
  if (process.connected) process.send?.(message, undefined, undefined, () => sent?.())
  else sent?.()
}

process.on('message', (message: ToChild, handle?: net.Socket) => {
  switch (message.t) {
    case 'init':
      void init(message)
      break
    case 'conn':
      if (handle) {
        if (message.tls) applyTLSDetails(handle, message.tls)
        receiveHandoff(handle, message.handoff)
        void serveConnection(message.id, handle, message.clientAddress)
      } else void lostSocket(message.id)
      break
    case 'dgram':
      void serveDatagram(
        message.id,
        Buffer.from(message.packet.buffer, message.packet.byteOffset, message.packet.length),
        message.clientAddress,
      )
      break
    case 'sent': {
      const pending = pendingSends.get(message.seq)
      pendingSends.delete(message.seq)
      if (message.error) pending?.reject(new RemoteHandlerError(message.error, 'the parent process'))
      else pending?.resolve()
      break
    }
    case 'handled':
      errorHandled.get(message.id)?.()
      errorHandled.delete(message.id)
      break
    case 'abort':
      inFlight.get(message.id)?.()
      break
    case 'retire':
      retiring = true
      exitWhenIdle()
      break
  }
})

// The parent went away (exited or was killed): finish what is in flight, then exit, so that no
// child outlives its server; a handler that never ends gets 5 s.
process.on('disconnect', () => {
  retiring = true
  exitWhenIdle()
  setTimeout(() => process.exit(0), 5_000).unref()
})

/** Called once the last message about a request has been written, so that exiting loses none. */
function exitWhenIdle(): void {
  if (retiring && inFlight.size === 0) process.exit(0)
}

async function init(message: Extract<ToChild, { t: 'init' }>): Promise<void> {
  kind = message.kind
  closeTimeout = message.closeTimeout
  lingerTimeout = message.lingerTimeout
  serverView.serverAddress = message.serverAddress
  serverView.socketType = kind === 'stream' ? 'stream' : 'dgram'
  serverView.addressFamily =
    kind === 'unix-dgram' ? 'Unix' : ((message.serverAddress as { family?: string } | null)?.family ?? 'Unix')
  try {
    Handler = await loadHandlerClass(message.handlerModule, message.handlerExport, message.className)
  } catch (error) {
    post({ t: 'init-error', error: RemoteHandlerError.serialize(error) })
    return
  }
  post({ t: 'ready' })
}

async function serveConnection(id: number, socket: net.Socket, clientAddress: unknown): Promise<void> {
  // A client that sends, then half-closes, still gets its reply (the parent listens the same way).
  socket.allowHalfOpen = true
  post({ t: 'got', id })
  socket.on('error', ignoreSocketError)
  inFlight.set(id, () => socket.destroy())
  try {
    await runHandler(new Handler!(socket, clientAddress, serverView))
  } catch (error) {
    await reportError(id, error)
  }
  await shutdownSocket(socket)
  inFlight.delete(id)
  post({ t: 'done', id }, exitWhenIdle)
}

/** A connection whose socket did not come with it (the parent's copy was already closed). */
async function lostSocket(id: number): Promise<void> {
  inFlight.set(id, () => {})
  await reportError(id, new InvalidStateError('the connection arrived without its socket'))
  inFlight.delete(id)
  post({ t: 'done', id }, exitWhenIdle)
}

/**
 * Python's `shutdown_request`, as the parent's transport does it (core's lingering close): FIN after
 * what was written, discard the peer's input until its FIN, then close; resolves once closed.
 */
function shutdownSocket(socket: net.Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve()
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  closeStreamSocket(socket, { closeTimeout, lingerTimeout })
  return closed
}

async function serveDatagram(id: number, packet: Buffer, clientAddress: unknown): Promise<void> {
  let cancelled = false
  inFlight.set(id, () => {
    cancelled = true
  })
  const sendVia = (data: Uint8Array | string, to: { port?: number; address?: string; path?: string }) => {
    if (cancelled) return Promise.reject(new InvalidStateError('the request was cut short'))
    const seq = nextSeq++
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    return new Promise<void>((resolve, reject) => {
      pendingSends.set(seq, { resolve, reject })
      post({ t: 'send', id, seq, data: bytes, ...to })
    })
  }
  // Stands in for the server's socket: replies go to the parent, which sends them from the bound socket.
  const socket =
    kind === 'udp'
      ? {
          // dgram.Socket#send(msg, [offset, length,] port, address, callback)
          send(msg: Uint8Array | string, ...args: unknown[]) {
            let data = msg
            if (
              typeof args[0] === 'number' &&
              typeof args[1] === 'number' &&
              args.length >= 3 &&
              typeof args[2] === 'number'
            ) {
              const [offset, length] = args.splice(0, 2) as [number, number]
              data = (typeof msg === 'string' ? Buffer.from(msg) : msg).subarray(offset, offset + length)
            }
            const [port, address, callback] = args as [
              number,
              string | ((e: Error | null) => void) | undefined,
              ((e: Error | null) => void) | undefined,
            ]
            const cb = typeof address === 'function' ? address : callback
            const host = typeof address === 'string' ? address : undefined
            sendVia(data, { port, ...(host ? { address: host } : {}) }).then(
              () => cb?.(null),
              (error: Error) => cb?.(error),
            )
          },
          address: () => serverView.serverAddress,
        }
      : {
          // UnixDatagramSocket#send(data, path, callback?) => Promise
          send(data: Uint8Array | string, path: string, callback?: (error: Error | null) => void) {
            const sent = sendVia(data, { path })
            if (callback) sent.then(() => callback(null), callback)
            return sent
          },
        }
  try {
    await runHandler(new Handler!([packet, socket], clientAddress, serverView))
  } catch (error) {
    await reportError(id, error)
  }
  inFlight.delete(id)
  post({ t: 'done', id }, exitWhenIdle)
}
