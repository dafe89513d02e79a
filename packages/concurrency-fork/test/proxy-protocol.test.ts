import { PROXY_GOOD_HEADERS, proxyExchange } from '@socketserver/compliance-tests'
import { ForkingMixIn } from '@socketserver/concurrency-fork'
import { TCPServer } from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { ProxyReport } from './fixtures/handlers.mjs'
import { expectNoChildren, handlerModule } from './helpers.js'

class ForkingTCPServer extends ForkingMixIn(TCPServer) {}

const servers: ForkingTCPServer[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) await server.shutdownGracefully({ timeout: 2_000 })
  await expectNoChildren()
})

const v2 = PROXY_GOOD_HEADERS.find((h) => h.name.startsWith('v2 INET with TLVs'))!.bytes

describe('proxyProtocol with the fork pool: the socket moves to a child after its header', () => {
  for (const mode of ['pool', 'per-request'] as const) {
    it(`${mode}: the bytes read with the header and the proxy info reach the child`, async () => {
      const server = await ForkingTCPServer.create({ host: '127.0.0.1', port: 0 }, ProxyReport, {
        handlerModule,
        processes: 2,
        forkMode: mode,
        proxyProtocol: true,
      })
      servers.push(server)
      void server.serveForever({ pollInterval: 20 })
      const { port } = server.serverAddress
      // Payload in the header's chunk (read here, carried over), split after it, split inside it.
      for (const pieces of [
        [Buffer.concat([v2, Buffer.from('one\n')])],
        [v2, 'two\n'],
        [v2.subarray(0, 9), v2.subarray(9), 'three\n'],
      ]) {
        expect(JSON.parse(await proxyExchange(port, pieces))).toEqual({
          address: '203.0.113.7',
          port: 54321,
          proxy: '127.0.0.1',
          authority: 'chat.example',
          line: `${['one', 'two', 'three'][pieces.length - 1]}\n`,
        })
      }
      expect(await proxyExchange(port, ['no header\n'])).toBe('')
      expect(server.refusedConnections.get('SOCKSRV_PROXY_HEADER')).toBe(1)
    })
  }
})
