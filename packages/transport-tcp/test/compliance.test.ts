import type { AddressInfo } from 'node:net'
import { connectStream, serverComplianceTests, streamIO } from '@socketserver/compliance-tests'
import { EventLoopTCPServer, TCPServer } from '@socketserver/transport-tcp'

// Every TCP server class, over IPv4 and IPv6, runs the shared suite (js-libp2p style).
for (const Server of [TCPServer, EventLoopTCPServer]) {
  for (const host of ['127.0.0.1', '::1']) {
    serverComplianceTests<TCPServer>({
      name: `${Server.name} on ${host}`,
      Server,
      socketType: 'stream',
      concurrency: Server === TCPServer ? 'one-at-a-time' : 'concurrent',
      address: () => ({ host, port: 0 }),
      addressInUse: (server) => ({ host, port: server.serverAddress.port }),
      invalidAddresses: [{ host, port: -1 }, { host, port: 65_536 }, [host, 1.5], { port: 0 }, `${host}:0`],
      connect: (server) =>
        connectStream({ host: server.serverAddress.address, port: server.serverAddress.port }),
      io: streamIO,
      isListening: (server) => server.socket?.listening === true,
      socketAddress: (server) => {
        const { address, port, family } = server.socket!.address() as AddressInfo
        return { address, port, family }
      },
    })
  }
}
