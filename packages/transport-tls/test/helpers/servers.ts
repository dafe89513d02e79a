import type tls from 'node:tls'
import { StreamRequestHandler } from '@socketserver/stream-handlers'
import { EventLoopTLSServer, type TLSServer, type TLSServerOptions } from '../../src/index.js'

/**
 * Answers one line with what it saw of the connection: `<line>|<protocol>|alpn=..|sni=..|peer=..`
 * (the peer's certificate fingerprint), then closes.
 */
export class InfoHandler extends StreamRequestHandler {
  override async handle() {
    const line = (await this.rfile.readline()).toString().trim()
    const socket = this.request as unknown as tls.TLSSocket
    const peer = socket.getPeerCertificate().fingerprint256 ?? '-'
    await this.wfile.write(
      `${line}|${socket.getProtocol()}|alpn=${socket.alpnProtocol || '-'}|sni=${socket.servername || '-'}|peer=${peer}\n`,
    )
  }
}

const open: TLSServer[] = []

export async function startServer(
  options: TLSServerOptions,
  { host = '127.0.0.1', Handler = InfoHandler }: { host?: string; Handler?: typeof InfoHandler } = {},
): Promise<TLSServer> {
  const server = await EventLoopTLSServer.create({ host, port: 0 }, Handler, options)
  open.push(server)
  void server.serveForever({ pollInterval: 50 })
  return server
}

export async function stopServers(): Promise<void> {
  for (const server of open.splice(0)) await server.shutdownGracefully({ timeout: 2_000 })
}
