import dgram from 'node:dgram'
import { serve } from './common.js'
import type { RunningServer } from './types.js'

/** The limit for Node code: a node:dgram echo. */
async function rawDgram(host: string): Promise<RunningServer> {
  const socket = dgram.createSocket('udp4')
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address))
  await new Promise<void>((resolve) => socket.bind(0, host, resolve))
  return {
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  }
}

/** EventLoopUDPServer + DatagramRequestHandler echo (fire-and-forget replies, the default). */
async function eventLoopUdp(host: string): Promise<RunningServer> {
  const { EventLoopUDPServer } = await import('@socketserver/transport-udp')
  const { DatagramRequestHandler } = await import('@socketserver/stream-handlers')
  class Echo extends DatagramRequestHandler {
    override async handle(): Promise<void> {
      await this.wfile.write(this.packet)
    }
  }
  const server = await EventLoopUDPServer.create({ host, port: 0 }, Echo)
  return serve(server, server.serverAddress.port)
}

export const udpServers = {
  'raw-dgram': rawDgram,
  'eventloop-udp': eventLoopUdp,
}
