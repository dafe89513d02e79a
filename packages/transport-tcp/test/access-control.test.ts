import { once } from 'node:events'
import net from 'node:net'
import { type AccessControlOptions, BaseRequestHandler } from '@socketserver/core'
import { EventLoopTCPServer } from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'

const servers: EventLoopTCPServer[] = []
const sockets: net.Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  for (const server of servers.splice(0)) await server.shutdownGracefully({ timeout: 1_000 })
})

/** Writes `hi` and holds the connection until the client ends it. */
class Hold extends BaseRequestHandler<net.Socket> {
  override async handle() {
    this.request.write('hi\n')
    this.request.resume()
    if (!this.request.readableEnded) await once(this.request, 'end').catch(() => {})
  }
}

async function start(host: string, accessControl: AccessControlOptions) {
  const server = await EventLoopTCPServer.create({ host, port: 0 }, Hold, { accessControl })
  servers.push(server)
  void server.serveForever({ pollInterval: 20 })
  return server
}

/** Connects and resolves with what the server does first: `'served'` (it wrote) or `'closed'`. */
async function attempt(server: EventLoopTCPServer): Promise<'served' | 'closed'> {
  const { address, port } = server.serverAddress
  const socket = net.connect({ host: address, port })
  sockets.push(socket)
  socket.on('error', () => {})
  return new Promise((resolve) => {
    socket.once('data', () => resolve('served'))
    socket.once('close', () => resolve('closed'))
  })
}

describe.each([
  ['IPv4', '127.0.0.1', '127.0.0.0/8', '127.0.0.1/32'],
  ['IPv6', '::1', '::/64', '::1'],
])('accessControl over %s', (_family, host, allowRange, denyAddress) => {
  it('serves an allowed client, refuses a denied one and one outside the allow list', async () => {
    expect(await attempt(await start(host, { allow: [allowRange] }))).toBe('served')
    const denied = await start(host, { allow: [allowRange], deny: [denyAddress] })
    expect(await attempt(denied)).toBe('closed')
    expect(denied.accessControl?.refused).toEqual({ denied: 1, limited: 0 })
    expect(await attempt(await start(host, { allow: ['192.0.2.0/24', '2001:db8::/32'] }))).toBe('closed')
  })

  it('limits connections per address and admits again once one has ended', async () => {
    const server = await start(host, { maxConnectionsPerAddress: 3 })
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => attempt(server)))
    expect(results.filter((r) => r === 'served')).toHaveLength(3)
    expect(results.filter((r) => r === 'closed')).toHaveLength(2)
    expect(server.accessControl?.refused.limited).toBe(2)
    // End one served connection: its count is released when its request ends.
    const served = sockets.find((s) => s.bytesRead > 0)!
    served.end()
    await once(served, 'close')
    for (let i = 0; i < 100 && server.accessControl!.connectionsFrom(host) > 2; i++) {
      await new Promise((r) => setTimeout(r, 10))
    }
    expect(await attempt(server)).toBe('served')
  })
})
