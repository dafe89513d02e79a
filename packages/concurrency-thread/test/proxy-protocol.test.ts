import { PROXY_GOOD_HEADERS, proxyExchange } from '@socketserver/compliance-tests'
import { TCPServer } from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { ThreadingMixIn } from '../src/index.js'
import { ProxyReport } from './fixtures/handlers.mjs'
import { handlerModule, Resources } from './helpers.js'

class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}

const r = new Resources()
afterEach(() => r.cleanup())

const v1 = PROXY_GOOD_HEADERS[0]!.bytes

// Node 26 moves a socket to a worker only if nothing was read from it: one with a PROXY header
// goes the proxied path (the main thread pumps its bytes), as on Node 20.
describe('proxyProtocol with the thread pool', () => {
  for (const mode of ['pool', 'per-request'] as const) {
    it(`${mode}: the payload after the header and the proxy info reach the worker`, async () => {
      const server = r.server(
        await ThreadingTCPServer.create({ host: '127.0.0.1', port: 0 }, ProxyReport, {
          handlerModule,
          threads: 2,
          threadPerRequest: mode === 'per-request',
          proxyProtocol: true,
        }),
      )
      void server.serveForever({ pollInterval: 10 })
      const { port } = server.serverAddress
      for (const pieces of [
        [Buffer.concat([v1, Buffer.from('one\n')])],
        [v1, 'two\n'],
        [v1.subarray(0, 7), v1.subarray(7), 'three\n'],
      ]) {
        expect(JSON.parse(await proxyExchange(port, pieces))).toEqual({
          address: '203.0.113.7',
          port: 54321,
          proxy: '127.0.0.1',
          line: `${['one', 'two', 'three'][pieces.length - 1]}\n`,
        })
      }
      expect(await proxyExchange(port, ['no header\n'])).toBe('')
      expect(server.refusedConnections.get('SOCKSRV_PROXY_HEADER')).toBe(1)
    })
  }
})
