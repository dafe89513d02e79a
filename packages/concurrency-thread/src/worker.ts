// The entry of every worker thread a ThreadingMixIn server starts: loads the handler class from
// the user's module, then runs one handler per request the main thread sends, many at once.
import type { Socket } from 'node:net'
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { RemoteHandlerError, type RequestHandlerClass, runHandler } from '@socketserver/core'
import { ignoreSocketError, loadHandlerClass, receiveHandoff } from '@socketserver/core/transport'
import {
  type FromWorker,
  ownBytes,
  type RemoteServerInfo,
  systemError,
  type ToWorker,
  type WorkerSetup,
} from './protocol.js'
import { ProxySocket } from './proxy-socket.js'

const port = parentPort!
const setup = (workerData as { setup: WorkerSetup }).setup
const post = (message: FromWorker) => port.postMessage(message)

/** What a handler's `this.server` is in a worker: the main thread's server is out of reach. */
class RemoteServer {
  readonly serverAddress: unknown
  readonly socketType: RemoteServerInfo['socketType']
  readonly addressFamily: string | undefined
  readonly threadId = threadId
  constructor(info: RemoteServerInfo) {
    this.serverAddress = info.serverAddress
    this.socketType = info.socketType
    this.addressFamily = info.addressFamily
  }

  /** Asks the main thread's server to stop `serveForever()`; resolves once it has. */
  shutdown(): Promise<void> {
    const sid = nextCallId++
    post({ t: 'shutdown', sid })
    return new Promise((resolve) => pendingCalls.set(sid, () => resolve()))
  }
}

let nextCallId = 1
const pendingCalls = new Map<number, (error?: Error) => void>()
const server = new RemoteServer(setup.server)
const transferred = new Map<number, Socket>()

/**
 * The socket a datagram handler replies through: `send()` hands the bytes and destination to the
 * main thread, which sends them from the server's bound socket. Both call shapes work:
 * `dgram.Socket#send(data, port, address, callback?)` and the Unix datagram socket's
 * `send(data, path, callback?)` (which returns a Promise).
 */
class ReplySocket {
  constructor(readonly requestId: number) {}
  send(data: Uint8Array | string, ...args: unknown[]): Promise<void> {
    let portNumber: number | undefined
    let address: string
    let callback: ((error: Error | null) => void) | undefined
    if (typeof args[0] === 'number') {
      portNumber = args[0]
      address = String(args[1])
      callback = typeof args[2] === 'function' ? (args[2] as typeof callback) : undefined
    } else {
      address = String(args[0])
      callback = typeof args[1] === 'function' ? (args[1] as typeof callback) : undefined
    }
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    const sid = nextCallId++
    const sent = new Promise<void>((resolve, reject) =>
      pendingCalls.set(sid, (error) => (error ? reject(error) : resolve())),
    )
    post({ t: 'send', id: this.requestId, sid, data: ownBytes(bytes), port: portNumber, address })
    if (callback) sent.then(() => callback(null), callback)
    else sent.catch(() => {}) // the caller holds the Promise; an unawaited one must not crash the worker
    return sent
  }
}

async function run(Handler: RequestHandlerClass, request: unknown, clientAddress: unknown) {
  try {
    await runHandler(new Handler(request, clientAddress, server))
    return undefined
  } catch (error) {
    return RemoteHandlerError.serialize(error)
  }
}

/** The worker's half of TCPServer.shutdownRequest/closeRequest on a socket it owns. */
function shutdownSocket(socket: Socket): void {
  if (socket.destroyed) return
  socket.end()
  if (socket.writableLength === 0) {
    socket.destroy()
    return
  }
  const timer = setTimeout(() => socket.destroy(), setup.closeTimeout)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
  socket.once('finish', () => socket.destroy())
}

async function serveSocket(Handler: RequestHandlerClass, id: number, socket: Socket, clientAddress: unknown) {
  transferred.set(id, socket)
  socket.on('error', ignoreSocketError)
  const error = await run(Handler, socket, clientAddress)
  if (error && !socket.destroyed) {
    // As in Python, handleError runs before the request is shut down: keep it until `release`.
    post({ t: 'done', id, error, held: true })
    return
  }
  transferred.delete(id)
  // `done` once the socket has closed, what the handler wrote flushed to the kernel (or dropped
  // after closeTimeout): the main thread may end this thread right after the last `done`.
  if (!socket.closed) {
    const closed = new Promise((resolve) => socket.once('close', resolve))
    shutdownSocket(socket)
    await closed
  }
  post({ t: 'done', id, error })
}

async function serveProxy(Handler: RequestHandlerClass, proxy: ProxySocket, clientAddress: unknown) {
  proxy.on('error', () => {})
  const error = await run(Handler, proxy, clientAddress)
  // Every write reaches the main thread before `done` (same port); it then shuts the socket down.
  // After an error it does so only once handleError has run (Python's order): no end() here then.
  if (!proxy.destroyed && (error ? proxy.writableLength > 0 : !proxy.writableFinished)) {
    await new Promise<void>((resolve) => {
      proxy.once(error ? 'drain' : 'finish', resolve)
      proxy.once('close', resolve)
      if (!error) proxy.end()
    })
  }
  proxy.finishRequest({ t: 'done', error })
}

async function serveDatagram(
  Handler: RequestHandlerClass,
  id: number,
  packet: Uint8Array,
  clientAddress: unknown,
) {
  const request = [Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength), new ReplySocket(id)]
  const error = await run(Handler, request, clientAddress)
  post({ t: 'done', id, error })
}

async function main() {
  let Handler: RequestHandlerClass
  try {
    Handler = await loadHandlerClass(setup.handlerModule, setup.handlerExport, setup.className)
  } catch (error) {
    post({ t: 'fatal', message: (error as Error).message, error: RemoteHandlerError.serialize(error) })
    return
  }
  port.on('message', (message: ToWorker) => {
    switch (message.t) {
      case 'socket':
        void serveSocket(Handler, message.id, message.socket as Socket, message.clientAddress)
        break
      case 'proxy': {
        const proxy = new ProxySocket(message.port, message.info)
        receiveHandoff(proxy, message.handoff)
        void serveProxy(Handler, proxy, message.clientAddress)
        break
      }
      case 'dgram':
        void serveDatagram(Handler, message.id, message.packet, message.clientAddress)
        break
      case 'abort':
        transferred.get(message.id)?.destroy()
        transferred.delete(message.id)
        break
      case 'release': {
        const socket = transferred.get(message.id)
        transferred.delete(message.id)
        if (socket) shutdownSocket(socket)
        break
      }
      case 'sent': {
        const settle = pendingCalls.get(message.sid)
        pendingCalls.delete(message.sid)
        settle?.(message.error ? systemError(message.error) : undefined)
        break
      }
      case 'shutdown-done': {
        const settle = pendingCalls.get(message.sid)
        pendingCalls.delete(message.sid)
        settle?.()
        break
      }
    }
  })
  post({ t: 'ready' })
}

void main()
