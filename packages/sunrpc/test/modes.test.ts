// The RPC handlers in the pools: worker threads and child processes import fixtures/calc.mjs for
// the handler classes (handlerModule) and run the built package (dist/), as users' workers do.

import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ForkingMixIn } from '@socketserver/concurrency-fork'
import { ThreadingMixIn } from '@socketserver/concurrency-thread'
import type { InetAddress } from '@socketserver/core'
import { decodeReply, encodeCall, RpcClient, xdr } from '@socketserver/sunrpc'
import { TCPServer } from '@socketserver/transport-tcp'
import { UDPServer } from '@socketserver/transport-udp'
import { EventLoopUnixStreamServer } from '@socketserver/transport-unix'
import { afterEach, describe, expect, it } from 'vitest'
import { CALC_PROG, CalcDatagram, CalcStream, pair, where } from './fixtures/calc.mjs'

const handlerModule = new URL('./fixtures/calc.mjs', import.meta.url).href
const host = '127.0.0.1'
const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
class ThreadingUDPServer extends ThreadingMixIn(UDPServer) {}
class ForkingTCPServer extends ForkingMixIn(TCPServer) {}
class ForkingUDPServer extends ForkingMixIn(UDPServer) {}

describe.each([
  ['thread pool', ThreadingTCPServer, ThreadingUDPServer, { threads: 2 }],
  ['fork pool', ForkingTCPServer, ForkingUDPServer, { processes: 2 }],
] as const)('%s', (_name, TcpServer, UdpServer, poolOptions) => {
  it.each([
    ['tcp', TcpServer, CalcStream],
    ['udp', UdpServer, CalcDatagram],
  ] as const)(
    'serves RPC calls over %s in the workers, with RPC errors and the reply cache',
    async (transport, Server, Handler) => {
      const server = await (Server as any).create({ host, port: 0 }, Handler, {
        handlerModule,
        ...poolOptions,
      })
      const serving = server.serveForever({ pollInterval: 50 })
      cleanup.push(async () => {
        await server.shutdown()
        await serving
        await server.serverClose()
      })
      const port = (server.serverAddress as InetAddress).port
      const c = await RpcClient.connect({ host, port, transport, timeout: 5000 })
      cleanup.push(() => c.close())
      const sums = await Promise.all(
        [1, 2, 3, 4].map((n) => c.call(CALC_PROG, 1, 1, pair, { a: n, b: 10 }, xdr.int)),
      )
      expect(sums).toEqual([11, 12, 13, 14])
      const w = await c.call(CALC_PROG, 1, 7, xdr.void, undefined, where)
      if ('threads' in poolOptions) expect(w.thread).toBeGreaterThan(0)
      else expect(w.pid).not.toBe(process.pid)
      await expect(c.ping(CALC_PROG, 9)).rejects.toMatchObject({ status: 'PROG_MISMATCH' })
      await expect(c.call(CALC_PROG, 1, 1, xdr.int, 1, xdr.int)).rejects.toMatchObject({
        status: 'GARBAGE_ARGS',
      })
      if (transport === 'udp') {
        // A retransmission is answered in the pools too. Each worker keeps its own reply cache (see
        // ADR 11), so whether it came from the cache depends on which worker the pool picked: the
        // cache itself is tested in rpc.test.ts.
        const call = encodeCall({ xid: 4242, prog: CALC_PROG, vers: 1, proc: 6 }, xdr.void, undefined).body()
        const first = decodeReply(await c.raw(4242, call))
        const again = decodeReply(await c.raw(4242, call))
        expect(first.status).toBe('SUCCESS')
        expect(again.status).toBe('SUCCESS')
      }
    },
  )
})

describe('Unix stream', () => {
  it('serves RPC calls on a Unix stream socket (event loop)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sunrpc-'))
    const path = join(dir, 'calc.sock')
    const server = await EventLoopUnixStreamServer.create(path, CalcStream)
    const serving = server.serveForever({ pollInterval: 50 })
    cleanup.push(async () => {
      await server.shutdown()
      await serving
      await server.serverClose()
      rmSync(dir, { recursive: true, force: true })
    })
    const socket = net.connect(path)
    cleanup.push(() => socket.destroy())
    await once(socket, 'connect')
    socket.write(encodeCall({ xid: 9, prog: CALC_PROG, vers: 1, proc: 1 }, pair, { a: 4, b: 5 }).frame())
    const [chunk] = (await once(socket, 'data')) as [Buffer]
    const reply = decodeReply(chunk.subarray(4))
    expect(reply.status === 'SUCCESS' && xdr.int.decode(reply.reader)).toBe(9)
  })
})
