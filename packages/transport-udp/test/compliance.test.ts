import { connectDatagram, datagramIO, serverComplianceTests } from '@socketserver/compliance-tests'
import { EventLoopUDPServer, UDPServer } from '@socketserver/transport-udp'

// Every UDP server class, over IPv4 and IPv6, runs the shared suite (js-libp2p style).
for (const Server of [UDPServer, EventLoopUDPServer]) {
  for (const host of ['127.0.0.1', '::1']) {
    serverComplianceTests<UDPServer>({
      name: `${Server.name} on ${host}`,
      Server,
      socketType: 'dgram',
      concurrency: Server === UDPServer ? 'one-at-a-time' : 'concurrent',
      address: () => ({ host, port: 0 }),
      addressInUse: (server) => ({ host, port: server.serverAddress.port }),
      invalidAddresses: [{ host, port: -1 }, { host, port: 65_536 }, [host, 1.5], { port: 0 }, `${host}:0`],
      connect: (server) =>
        connectDatagram({ host: server.serverAddress.address, port: server.serverAddress.port }),
      io: datagramIO,
      isListening: (server) => {
        try {
          return server.socket?.address() !== undefined
        } catch {
          return false // address() throws once the socket is closed
        }
      },
      socketAddress: (server) => {
        const { address, port, family } = server.socket!.address()
        return { address, port, family }
      },
    })
  }
}
