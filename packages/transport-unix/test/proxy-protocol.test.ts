import { once } from 'node:events'
import net from 'node:net'
import {
  BaseRequestHandler,
  encodeProxyHeader,
  InvalidArgumentError,
  PP2_TYPE,
  proxyInfo,
} from '@socketserver/core'
import { EventLoopUnixStreamServer, UnixStreamServer } from '@socketserver/transport-unix'
import { afterEach, describe, expect, it } from 'vitest'
import { TempDirs } from './helpers.js'

class Report extends BaseRequestHandler<net.Socket, string> {
  override async handle() {
    const [first] = (await once(this.request, 'data')) as [Buffer]
    const info = proxyInfo<string>(this.request)
    this.request.end(
      JSON.stringify({
        client: this.clientAddress,
        proxy: info?.proxyAddress,
        authority: info?.authority,
        first: `${first}`,
      }),
    )
  }
}

const temp = new TempDirs()
const servers: UnixStreamServer[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) await server.shutdownGracefully({ timeout: 1_000 })
  temp.cleanup()
})

async function ask(path: string, bytes: Buffer): Promise<string> {
  const socket = net.connect(path)
  socket.on('error', () => {})
  const closed = once(socket, 'close')
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.write(bytes)
  await closed
  return Buffer.concat(chunks).toString()
}

describe('proxyProtocol on a Unix stream server (HAProxy in front of a Unix socket backend)', () => {
  it('the client address becomes the header source; the proxy address stays the Unix peer', async () => {
    const server = await EventLoopUnixStreamServer.create(temp.path(), Report, { proxyProtocol: true })
    servers.push(server)
    server.handleRefusal = () => {}
    void server.serveForever({ pollInterval: 20 })
    const header = encodeProxyHeader({
      version: 2,
      source: { address: '198.51.100.4', port: 4000 },
      destination: { address: '192.0.2.1', port: 443 },
      tlvs: [{ type: PP2_TYPE.AUTHORITY, value: 'unix.example' }],
      crc32c: true,
    })
    expect(JSON.parse(await ask(server.serverAddress, Buffer.concat([header, Buffer.from('hi')])))).toEqual({
      client: '198.51.100.4',
      proxy: '',
      authority: 'unix.example',
      first: 'hi',
    })
    expect(await ask(server.serverAddress, Buffer.from('hi without a header'))).toBe('')
    expect(server.refusedConnections.get('SOCKSRV_PROXY_HEADER')).toBe(1)
  })

  it('trustedProxies is refused: a Unix peer has no address (the socket file modes decide)', () => {
    expect(
      () =>
        new UnixStreamServer(temp.path(), Report, {
          proxyProtocol: { trustedProxies: ['127.0.0.1'] },
          bindAndActivate: false,
        }),
    ).toThrow(InvalidArgumentError)
  })
})
