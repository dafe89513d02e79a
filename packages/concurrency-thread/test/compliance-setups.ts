// The shared compliance suite in remote-handler mode: its handlers run in the pool's worker
// threads, imported from @socketserver/compliance-tests/handlers, and report to the test over a
// socket. Every transport ThreadingMixIn supports, IPv4 and IPv6, Unix paths and abstract names.
import diagnostics from 'node:diagnostics_channel'
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  connectDatagram,
  connectStream,
  messageClient,
  type ServerComplianceSetup,
  serverComplianceTests,
  waitFor,
} from '@socketserver/compliance-tests'
import { channels } from '@socketserver/core'
import { TCPServer } from '@socketserver/transport-tcp'
import { UDPServer } from '@socketserver/transport-udp'
import { UnixDatagramServer, UnixDatagramSocket, UnixStreamServer } from '@socketserver/transport-unix'
import { ThreadingMixIn } from '../src/index.js'

class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
class ThreadingUDPServer extends ThreadingMixIn(UDPServer) {}
class ThreadingUnixStreamServer extends ThreadingMixIn(UnixStreamServer) {}
class ThreadingUnixDatagramServer extends ThreadingMixIn(UnixDatagramServer) {}

// Worker threads alive (spawned, not exited), from the pools' lifecycle channel.
const alive = new Set<unknown>()
diagnostics.subscribe(channels.worker.name, (message) => {
  const { event, worker, kind } = message as { event: string; worker: unknown; kind: string }
  if (kind !== 'thread') return
  if (event === 'spawn') alive.add(worker)
  else if (event === 'exit') alive.delete(worker)
})

const dirs: string[] = []
const tempPath = (name = 's.sock') => {
  const dir = mkdtempSync(join(tmpdir(), 'sst-'))
  dirs.push(dir)
  return join(dir, name)
}
let abstractCount = 0
const abstractName = () => `\0sst-${process.pid}-${++abstractCount}-${Math.random().toString(36).slice(2, 8)}`

/** After each test: no worker thread outlives it (the harness closed its servers), no temp file is left. */
async function cleanup(): Promise<void> {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  await waitFor(() => alive.size === 0, { what: `worker threads ${[...alive].join(', ')} to exit` })
}

const isOpen = (socket: { address(): unknown } | undefined) => {
  try {
    return socket?.address() !== undefined
  } catch {
    return false // a closed dgram socket's address() throws
  }
}

/** Registers the suite for every transport with `options` (`threads`, `threadPerRequest`) and `label`. */
export function threadComplianceTests(label: string, options: Record<string, unknown>): void {
  const common = {
    concurrency: 'concurrent',
    remote: { options },
    bindLeakIterations: 100, // each failure runs the mixin's checks too; 100 show a leak as well
    cleanup,
  } as const
  const suite = (setup: Omit<ServerComplianceSetup<any>, keyof typeof common>) =>
    serverComplianceTests({ ...common, ...setup })

  for (const host of ['127.0.0.1', '::1']) {
    suite({
      name: `ThreadingMixIn(TCPServer) ${label} on ${host}`,
      Server: ThreadingTCPServer,
      socketType: 'stream',
      address: () => ({ host, port: 0 }),
      addressInUse: (server: TCPServer) => ({ host, port: server.serverAddress.port }),
      invalidAddresses: [{ host, port: -1 }],
      connect: (server: TCPServer) => connectStream({ host, port: server.serverAddress.port }),
      isListening: (server: TCPServer) => server.socket?.listening === true,
      socketAddress: (server: TCPServer) => {
        const { address, port, family } = server.socket!.address() as AddressInfo
        return { address, port, family }
      },
    })
    suite({
      name: `ThreadingMixIn(UDPServer) ${label} on ${host}`,
      Server: ThreadingUDPServer,
      socketType: 'dgram',
      address: () => ({ host, port: 0 }),
      addressInUse: (server: UDPServer) => ({ host, port: server.serverAddress.port }),
      invalidAddresses: [{ host, port: -1 }],
      connect: (server: UDPServer) => connectDatagram({ host, port: server.serverAddress.port }),
      isListening: (server: UDPServer) => isOpen(server.socket),
    })
  }
  for (const kind of ['path', 'abstract'] as const) {
    suite({
      name: `ThreadingMixIn(UnixStreamServer) ${label} on ${kind === 'path' ? 'a path' : 'an abstract name'}`,
      Server: ThreadingUnixStreamServer,
      socketType: 'stream',
      address: () => (kind === 'path' ? tempPath() : abstractName()),
      addressInUse: (server: UnixStreamServer) => server.serverAddress,
      invalidAddresses: ['', 'a\0b'],
      connect: (server: UnixStreamServer) => connectStream({ path: server.serverAddress }),
      isListening: (server: UnixStreamServer) => server.socket?.listening === true,
    })
  }
  suite({
    name: `ThreadingMixIn(UnixDatagramServer) ${label} on a path`,
    Server: ThreadingUnixDatagramServer,
    socketType: 'dgram',
    address: () => tempPath(),
    addressInUse: (server: UnixDatagramServer) => server.serverAddress,
    invalidAddresses: ['', 'a\0b'],
    connect: (server: UnixDatagramServer) =>
      messageClient(async (deliver) => {
        const socket = await UnixDatagramSocket.open(deliver, () => {})
        socket.bind(tempPath('client.sock'))
        return {
          send: (data: Buffer) => socket.send(data, server.serverAddress),
          close: () => socket.close(),
        }
      }),
    isListening: (server: UnixDatagramServer) => server.socket !== undefined && !server.socket.closed,
  })
}
