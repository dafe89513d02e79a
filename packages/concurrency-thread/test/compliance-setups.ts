// The shared compliance suite in remote-handler mode: its handlers run in the pool's worker
// threads, imported from @socketserver/compliance-tests/handlers, and report to the test over a
// socket. Every transport ThreadingMixIn supports: TCP and UDP on IPv4 and IPv6, Unix stream on
// paths and abstract names, Unix datagram.
import diagnostics from 'node:diagnostics_channel'
import { forEachTransport, SocketPaths, serverComplianceTests, waitFor } from '@socketserver/compliance-tests'
import { channels } from '@socketserver/core'
import { TCPServer } from '@socketserver/transport-tcp'
import { UDPServer } from '@socketserver/transport-udp'
import { UnixDatagramServer, UnixDatagramSocket, UnixStreamServer } from '@socketserver/transport-unix'
import { ThreadingMixIn } from '../src/index.js'

class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
class ThreadingUDPServer extends ThreadingMixIn(UDPServer) {}
class ThreadingUnixStreamServer extends ThreadingMixIn(UnixStreamServer) {}
class ThreadingUnixDatagramServer extends ThreadingMixIn(UnixDatagramServer) {}

/** ThreadingMixIn over every transport, as `forEachTransport` takes them. */
export const threadingServers = {
  TCPServer: ThreadingTCPServer,
  UDPServer: ThreadingUDPServer,
  UnixStreamServer: ThreadingUnixStreamServer,
  UnixDatagramServer: ThreadingUnixDatagramServer,
}

// Worker threads alive (spawned, not exited), from the pools' lifecycle channel.
const alive = new Set<unknown>()
diagnostics.subscribe(channels.worker.name, (message) => {
  const { event, worker, kind } = message as { event: string; worker: unknown; kind: string }
  if (kind !== 'thread') return
  if (event === 'spawn') alive.add(worker)
  else if (event === 'exit') alive.delete(worker)
})

const paths = new SocketPaths('sst-')

/** Registers the suite for every transport, the servers made with `options` (`threads`, `threadPerRequest`). */
export function threadComplianceTests(label: string, options: Record<string, unknown>): void {
  forEachTransport(threadingServers, UnixDatagramSocket, paths, (Server, where, transport) =>
    serverComplianceTests({
      name: `${Server.name} (${label}) on ${where}`,
      Server,
      concurrency: 'concurrent',
      remote: { options },
      bindLeakIterations: 100, // each failure also runs the mixin's option checks; 100 show a leak too
      // After each test (the suite closed its servers): no worker thread outlives it, no socket file.
      async cleanup() {
        paths.cleanup()
        await waitFor(() => alive.size === 0, { what: `worker threads ${[...alive].join(', ')} to exit` })
      },
      ...transport,
    }),
  )
}
