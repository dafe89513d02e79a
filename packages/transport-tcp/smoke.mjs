import net from 'node:net'
import { BaseRequestHandler } from '@socketserver/core'
import { EventLoopTCPServer, TCPServer } from '@socketserver/transport-tcp'

class Echo extends BaseRequestHandler {
  async handle() {
    for await (const chunk of this.request) {
      this.request.write(chunk)
    }
  }
}
for (const Cls of [TCPServer, EventLoopTCPServer]) {
  const server = await Cls.create({ host: '127.0.0.1', port: 0 }, Echo)
  console.log(Cls.name, server.serverAddress)
  const loop = server.serveForever({ pollInterval: 100 })
  const c = net.connect(server.serverAddress.port, '127.0.0.1')
  c.end('hello')
  let got = ''
  for await (const d of c) got += d
  console.log('got', got)
  await server.shutdown()
  await loop
  await server.serverClose()
  console.log('closed', server.closed)
}
try {
  await TCPServer.create({ host: '127.0.0.1', port: 1 }, Echo)
} catch (e) {
  console.log(e.code, e.errno, e.message)
}
