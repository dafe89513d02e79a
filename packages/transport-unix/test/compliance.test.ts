import { join } from 'node:path'
import {
  type ComplianceClient,
  connectStream,
  type HandlerIO,
  type SuiteHandler,
  serverComplianceTests,
  streamIO,
} from '@socketserver/compliance-tests'
import {
  EventLoopUnixDatagramServer,
  EventLoopUnixStreamServer,
  type UnixDatagramRequest,
  UnixDatagramServer,
  UnixDatagramSocket,
  UnixStreamServer,
} from '@socketserver/transport-unix'
import { abstractName, TempDirs } from './helpers.js'

const temp = new TempDirs()

for (const Server of [UnixStreamServer, EventLoopUnixStreamServer]) {
  for (const kind of ['path', 'abstract'] as const) {
    if (kind === 'abstract' && process.platform !== 'linux') continue
    serverComplianceTests<UnixStreamServer>({
      name: `${Server.name} on ${kind === 'path' ? 'a filesystem path' : 'an abstract name'}`,
      Server,
      socketType: 'stream',
      concurrency: Server === UnixStreamServer ? 'one-at-a-time' : 'concurrent',
      address: () => (kind === 'path' ? temp.path() : abstractName()),
      addressInUse: (server) => server.serverAddress,
      // Over-long paths are refused too, with their own SocketPathTooLongError (see the unit tests).
      invalidAddresses: ['', 'a\0b', '\0'],
      connect: (server) => connectStream({ path: server.serverAddress }),
      io: streamIO,
      isListening: (server) => server.socket?.listening === true,
      // A path server's socket is bound under a private staging name and linked into place (see
      // the README), so getsockname() is not serverAddress there; an abstract name is bound as is.
      ...(kind === 'abstract'
        ? { socketAddress: (server: UnixStreamServer) => server.socket?.address() }
        : {}),
      cleanup: () => temp.cleanup(),
    })
  }
}

/** Handler I/O for `[packet, socket]` requests whose client address is the sender's path. */
const unixDatagramIO: HandlerIO = {
  async read(handler: SuiteHandler): Promise<Buffer> {
    return (handler.request as UnixDatagramRequest)[0]
  },
  write(handler: SuiteHandler, data: Buffer): Promise<void> {
    return (handler.request as UnixDatagramRequest)[1].send(data, handler.clientAddress as string)
  },
}

/** A client that owns a datagram socket bound to its own path (as CPython's test binds one). */
async function connectUnixDatagram(serverPath: string): Promise<ComplianceClient> {
  const datagrams: Buffer[] = []
  let wake: (() => void) | undefined
  const socket = await UnixDatagramSocket.open(
    (packet) => {
      datagrams.push(packet)
      const w = wake
      wake = undefined
      w?.()
    },
    () => {},
  )
  socket.bind(join(temp.dir(), 'client.sock'))
  return {
    send: (data) => socket.send(data, serverPath),
    async receive() {
      while (datagrams.length === 0) await new Promise<void>((resolve) => (wake = resolve))
      return datagrams.shift()!
    },
    async close() {
      socket.close()
    },
  }
}

for (const Server of [UnixDatagramServer, EventLoopUnixDatagramServer]) {
  serverComplianceTests<UnixDatagramServer>({
    name: `${Server.name} on a filesystem path`,
    Server,
    socketType: 'dgram',
    concurrency: Server === UnixDatagramServer ? 'one-at-a-time' : 'concurrent',
    address: () => temp.path(),
    addressInUse: (server) => server.serverAddress,
    // Abstract names are refused for datagrams (the native library cannot bind them usably).
    invalidAddresses: ['', 'a\0b', abstractName()],
    connect: (server) => connectUnixDatagram(server.serverAddress),
    io: unixDatagramIO,
    isListening: (server) => server.socket !== undefined && !server.socket.closed,
    cleanup: () => temp.cleanup(),
  })
}
