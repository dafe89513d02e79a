import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ComplianceClient, connectDatagram, connectStream } from '@socketserver/compliance-tests'
import { ForkingMixIn } from '@socketserver/concurrency-fork'
import { TCPServer } from '@socketserver/transport-tcp'
import { UDPServer } from '@socketserver/transport-udp'
import { UnixDatagramServer, UnixDatagramSocket, UnixStreamServer } from '@socketserver/transport-unix'
import { forkComplianceTests } from './fork-compliance.js'

// Python's eight combinations, less the threading ones (those are concurrency-thread's).
class ForkingTCPServer extends ForkingMixIn(TCPServer) {}
class ForkingUDPServer extends ForkingMixIn(UDPServer) {}
class ForkingUnixStreamServer extends ForkingMixIn(UnixStreamServer) {}
class ForkingUnixDatagramServer extends ForkingMixIn(UnixDatagramServer) {}

const dirs: string[] = []
const tempPath = (name = 's.sock') => {
  const dir = mkdtempSync(join(tmpdir(), 'ssfork-'))
  dirs.push(dir)
  return join(dir, name)
}
const cleanup = () => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
}

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
  socket.bind(tempPath('client.sock'))
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

const modes = [{ forkMode: 'pool', processes: 2 }, { forkMode: 'per-request' }] as const

for (const options of modes) {
  for (const host of ['127.0.0.1', '::1']) {
    forkComplianceTests({
      name: `ForkingMixIn(TCPServer) ${options.forkMode} on ${host}`,
      Server: ForkingTCPServer,
      socketType: 'stream',
      concurrency: 'concurrent',
      options,
      address: () => ({ host, port: 0 }),
      addressInUse: (server: TCPServer) => ({ host, port: server.serverAddress.port }),
      invalidAddresses: [{ host, port: -1 }],
      connect: (server: TCPServer) =>
        connectStream({ host: server.serverAddress.address, port: server.serverAddress.port }),
      io: undefined as never,
      isListening: (server: TCPServer) => server.socket?.listening === true,
      socketAddress: (server: TCPServer) => {
        const { address, port, family } = server.socket!.address() as AddressInfo
        return { address, port, family }
      },
    })
    forkComplianceTests({
      name: `ForkingMixIn(UDPServer) ${options.forkMode} on ${host}`,
      Server: ForkingUDPServer,
      socketType: 'dgram',
      concurrency: 'concurrent',
      options,
      address: () => ({ host, port: 0 }),
      addressInUse: (server: UDPServer) => ({ host, port: server.serverAddress.port }),
      invalidAddresses: [{ host, port: -1 }],
      connect: (server: UDPServer) =>
        connectDatagram({ host: server.serverAddress.address, port: server.serverAddress.port }),
      io: undefined as never,
      isListening: (server: UDPServer) => {
        try {
          return server.socket?.address() !== undefined
        } catch {
          return false
        }
      },
    })
  }
  forkComplianceTests({
    name: `ForkingMixIn(UnixStreamServer) ${options.forkMode} on a filesystem path`,
    Server: ForkingUnixStreamServer,
    socketType: 'stream',
    concurrency: 'concurrent',
    options,
    address: () => tempPath(),
    addressInUse: (server: UnixStreamServer) => server.serverAddress,
    invalidAddresses: ['', 'a\0b'],
    connect: (server: UnixStreamServer) => connectStream({ path: server.serverAddress }),
    io: undefined as never,
    isListening: (server: UnixStreamServer) => server.socket?.listening === true,
    cleanup,
  })
  forkComplianceTests({
    name: `ForkingMixIn(UnixDatagramServer) ${options.forkMode} on a filesystem path`,
    Server: ForkingUnixDatagramServer,
    socketType: 'dgram',
    concurrency: 'concurrent',
    options,
    address: () => tempPath(),
    addressInUse: (server: UnixDatagramServer) => server.serverAddress,
    invalidAddresses: ['', 'a\0b'],
    connect: (server: UnixDatagramServer) => connectUnixDatagram(server.serverAddress),
    io: undefined as never,
    isListening: (server: UnixDatagramServer) => server.socket !== undefined && !server.socket.closed,
    cleanup,
  })
}
