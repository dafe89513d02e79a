// The shared compliance suite in remote-handler mode: its handlers run in child processes,
// imported from @socketserver/compliance-tests/handlers, and report to the test over a socket
// whose address the children get in their environment. Every transport ForkingMixIn supports:
// TCP and UDP on IPv4 and IPv6, Unix stream on paths and abstract names, Unix datagram.
import {
  COMPLIANCE_REPORT_ENV,
  forEachTransport,
  SocketPaths,
  serverComplianceTests,
} from '@socketserver/compliance-tests'
import { defaultChildEnv, ForkingMixIn } from '@socketserver/concurrency-fork'
import { TCPServer } from '@socketserver/transport-tcp'
import { UDPServer } from '@socketserver/transport-udp'
import { UnixDatagramServer, UnixDatagramSocket, UnixStreamServer } from '@socketserver/transport-unix'
import { expectNoChildren } from './helpers.js'

// Python's eight combinations, less the threading ones (those are concurrency-thread's).
class ForkingTCPServer extends ForkingMixIn(TCPServer) {}
class ForkingUDPServer extends ForkingMixIn(UDPServer) {}
class ForkingUnixStreamServer extends ForkingMixIn(UnixStreamServer) {}
class ForkingUnixDatagramServer extends ForkingMixIn(UnixDatagramServer) {}

const paths = new SocketPaths('ssfork-')

/** Registers the suite for every transport, the servers made with `options` (`forkMode`, `processes`). */
export function forkComplianceTests(label: string, options: Record<string, unknown>): void {
  const servers = {
    TCPServer: ForkingTCPServer,
    UDPServer: ForkingUDPServer,
    UnixStreamServer: ForkingUnixStreamServer,
    UnixDatagramServer: ForkingUnixDatagramServer,
  }
  forEachTransport(servers, UnixDatagramSocket, paths, (Server, where, transport) =>
    serverComplianceTests({
      name: `${Server.name} (${label}) on ${where}`,
      Server,
      concurrency: 'concurrent',
      remote: {
        options: () => ({
          ...options,
          // A child reports a stream request done after its lingering close, which waits for the
          // client's FIN (2 s by default): the suite's clients stay open until the test ends.
          ...(transport.socketType === 'stream' ? { lingerTimeout: 100 } : {}),
          // Children get only the environment they are given: the report address goes with it.
          env: { ...defaultChildEnv(), [COMPLIANCE_REPORT_ENV]: process.env[COMPLIANCE_REPORT_ENV] },
        }),
      },
      bindLeakIterations: 100, // each failure also runs the mixin's option checks; 100 show a leak too
      // After each test (the suite closed its servers): no child is left, zombie or not, nor a socket file.
      async cleanup() {
        paths.cleanup()
        await expectNoChildren()
      },
      ...transport,
    }),
  )
}
