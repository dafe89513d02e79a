import dgram from 'node:dgram'
import { once } from 'node:events'
import net from 'node:net'
import type { BaseServer, InetAddress } from '@socketserver/core'
import {
  decodeReply,
  encodeCall,
  frameRecord,
  RecordTooLargeError,
  type RpcCallError,
  RpcClient,
  xdr,
} from '@socketserver/sunrpc'
import { EventLoopTCPServer, TCPServer } from '@socketserver/transport-tcp'
import { EventLoopUDPServer, UDPServer } from '@socketserver/transport-udp'
import { afterEach, describe, expect, it } from 'vitest'
import { CALC_PROG, CalcDatagram, CalcStream, pair, where, who } from './fixtures/calc.mjs'

const host = '127.0.0.1'
const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

type AnyServer = BaseServer<any, any, any> & { serverAddress: InetAddress }

/** Starts a server, collecting what reaches handleError(). */
async function serve(Server: any, Handler: any, options: object = {}) {
  const errors: unknown[] = []
  class Watched extends Server {
    handleError(_r: unknown, _c: unknown, error: unknown) {
      errors.push(error)
    }
  }
  const server = (await (Watched as any).create({ host, port: 0 }, Handler, options)) as AnyServer
  const serving = server.serveForever({ pollInterval: 50 })
  cleanup.push(async () => {
    await server.shutdown()
    await serving
    await server.serverClose()
  })
  return { server, port: server.serverAddress.port, errors }
}

async function client(port: number, transport: 'tcp' | 'udp', options = {}) {
  const c = await RpcClient.connect({ host, port, transport, timeout: 3000, ...options })
  cleanup.push(() => c.close())
  return c
}

const AUTH_SYS = {
  flavor: 1 as const,
  sys: { stamp: 7, machinename: 'tester', uid: 1234, gid: 99, gids: [4, 5] },
}

describe.each([
  ['tcp', EventLoopTCPServer, CalcStream],
  ['udp', EventLoopUDPServer, CalcDatagram],
] as const)('RPC over %s (event loop)', (transport, Server, Handler) => {
  it('runs procedures with typed arguments and results, and passes AUTH_SYS to them', async () => {
    const { port } = await serve(Server, Handler)
    const c = await client(port, transport)
    await c.ping(CALC_PROG, 1)
    expect(await c.call(CALC_PROG, 1, 1, pair, { a: 40, b: 2 }, xdr.int)).toBe(42)
    const big = Buffer.alloc(3000, 7)
    expect(await c.call(CALC_PROG, 1, 2, xdr.varOpaque(), big, xdr.varOpaque())).toEqual(big)
    expect(
      await c.call(CALC_PROG, 1, 9, xdr.varArray(xdr.int), [2 ** 31 - 1, 2 ** 31 - 1, 5], xdr.hyper),
    ).toBe(2n ** 32n + 3n)
    expect(await c.call(CALC_PROG, 1, 3, xdr.void, undefined, who)).toEqual({
      flavor: 0,
      uid: 0,
      gid: 0,
      machinename: '',
    })
    expect(await c.call(CALC_PROG, 1, 3, xdr.void, undefined, who, { cred: AUTH_SYS })).toEqual({
      flavor: 1,
      uid: 1234,
      gid: 99,
      machinename: 'tester',
    })
  })

  it('answers unknown programs, versions and procedures, bad arguments and failures with their RPC status', async () => {
    const { port } = await serve(Server, Handler)
    const c = await client(port, transport)
    const status = (p: Promise<unknown>) =>
      p.then(
        () => 'SUCCESS',
        (e: RpcCallError) => [e.status, e.detail],
      )
    expect(await status(c.ping(CALC_PROG + 1, 1))).toEqual(['PROG_UNAVAIL', undefined])
    expect(await status(c.ping(CALC_PROG, 2))).toEqual(['PROG_MISMATCH', { low: 1, high: 3 }])
    expect(await status(c.ping(CALC_PROG, 3))).toBe('SUCCESS') // NULL exists in every version
    expect(await status(c.call(CALC_PROG, 1, 99, xdr.void, undefined, xdr.void))).toEqual([
      'PROC_UNAVAIL',
      undefined,
    ])
    // truncated arguments: one int where a pair is expected
    expect(await status(c.call(CALC_PROG, 1, 1, xdr.int, 5, xdr.int))).toEqual(['GARBAGE_ARGS', undefined])
    // an array whose length lies: a million elements announced, one sent
    expect(
      await status(
        c.call(CALC_PROG, 1, 9, xdr.struct({ n: xdr.uint, x: xdr.int }), { n: 1e6, x: 1 }, xdr.hyper),
      ),
    ).toEqual(['GARBAGE_ARGS', undefined])
    expect(await status(c.call(CALC_PROG, 1, 4, xdr.void, undefined, xdr.void))).toEqual([
      'SYSTEM_ERR',
      undefined,
    ])
    expect(await status(c.call(CALC_PROG, 1, 5, xdr.void, undefined, xdr.void))).toEqual([
      'AUTH_ERROR',
      { stat: 5 },
    ])
    expect(await status(c.call(CALC_PROG, 1, 0, xdr.void, undefined, xdr.void, { rpcvers: 3 }))).toEqual([
      'RPC_MISMATCH',
      { low: 2, high: 2 },
    ])
    // an unknown credential flavor (AUTH_DH) is refused with AUTH_REJECTEDCRED
    const dh = encodeCall({ xid: 77, prog: CALC_PROG, vers: 1, proc: 0 }, xdr.void, undefined)
    const body = dh.body()
    body.writeUInt32BE(3, 24)
    const reply = decodeReply(await c.raw(77, transport === 'tcp' ? frameRecord(body) : body))
    expect(reply).toMatchObject({ xid: 77, status: 'AUTH_ERROR', stat: 2 })
    // and it still serves
    expect(await c.call(CALC_PROG, 1, 1, pair, { a: 1, b: 2 }, xdr.int)).toBe(3)
  })
})

/** A raw TCP connection that collects reply records. */
async function rawStream(port: number) {
  const socket = net.connect({ host, port })
  await once(socket, 'connect')
  cleanup.push(() => socket.destroy())
  let buffer = Buffer.alloc(0)
  const replies: Buffer[] = []
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk])
    while (buffer.length >= 4) {
      const length = buffer.readUInt32BE(0) & 0x7fffffff
      if (buffer.length < 4 + length) break
      replies.push(buffer.subarray(4, 4 + length))
      buffer = buffer.subarray(4 + length)
    }
  })
  socket.on('error', () => {})
  const closed = once(socket, 'close')
  return { socket, replies, closed }
}

const until = async (check: () => boolean, ms = 3000) => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('record marking (TCP)', () => {
  it('reassembles a call sent in several fragments, and skips a REPLY sent to it', async () => {
    const { port } = await serve(EventLoopTCPServer, CalcStream)
    const { socket, replies } = await rawStream(port)
    const call = encodeCall({ xid: 5, prog: CALC_PROG, vers: 1, proc: 1 }, pair, { a: 20, b: 22 }).body()
    const pieces = [call.subarray(0, 10), call.subarray(10, 30), call.subarray(30)]
    pieces.forEach((piece, i) => {
      const mark = Buffer.alloc(4)
      mark.writeUInt32BE(((i === 2 ? 0x80000000 : 0) | piece.length) >>> 0)
      socket.write(Buffer.concat([mark, piece]))
    })
    const notACall = Buffer.from('00000009000000010000000000000000', 'hex')
    socket.write(frameRecord(notACall))
    socket.write(
      frameRecord(encodeCall({ xid: 6, prog: CALC_PROG, vers: 1, proc: 1 }, pair, { a: 1, b: 1 }).body()),
    )
    await until(() => replies.length === 2)
    const [first, second] = replies.map((r) => decodeReply(r))
    expect(first?.xid).toBe(5)
    expect(first?.status === 'SUCCESS' && xdr.int.decode(first.reader)).toBe(42)
    expect(second?.xid).toBe(6)
  })

  it('refuses a record mark claiming 2 GB before buffering it, and a fragment chain past maxFragments', async () => {
    const { port, errors } = await serve(EventLoopTCPServer, CalcStream)
    const before = process.memoryUsage().rss
    const huge = await rawStream(port)
    huge.socket.write(Buffer.from('fffffff0', 'hex')) // last fragment, 2 147 483 632 bytes
    huge.socket.write(Buffer.alloc(1000))
    await huge.closed
    const chain = await rawStream(port)
    const empty = Buffer.from('00000000', 'hex') // not last, zero length: forever
    for (let i = 0; i < 100; i++) chain.socket.write(empty)
    await chain.closed
    await until(() => errors.length === 2)
    expect(errors[0]).toBeInstanceOf(RecordTooLargeError)
    expect(errors[0]).toMatchObject({
      code: 'SOCKSRV_RPC_RECORD_TOO_LARGE',
      declared: 0x7ffffff0,
      limit: 65536,
    })
    expect(errors[1]).toMatchObject({ code: 'SOCKSRV_RPC_RECORD_TOO_LARGE', fragments: true, limit: 8 })
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024)
    const c = await client(port, 'tcp')
    expect(await c.call(CALC_PROG, 1, 1, pair, { a: 2, b: 3 }, xdr.int)).toBe(5)
  })
})

describe('datagram reply cache', () => {
  async function udpRaw(port: number) {
    const socket = dgram.createSocket('udp4')
    cleanup.push(() => socket.close())
    await new Promise<void>((resolve) => socket.connect(port, host, resolve))
    const replies: Buffer[] = []
    socket.on('message', (m) => replies.push(m))
    return { socket, replies }
  }

  it('answers a retransmission (same xid, same client) from the cache, without running the procedure again', async () => {
    const { port } = await serve(EventLoopUDPServer, CalcDatagram)
    const { socket, replies } = await udpRaw(port)
    const count = (xid: number) =>
      encodeCall({ xid, prog: CALC_PROG, vers: 1, proc: 6 }, xdr.void, undefined).body()
    socket.send(count(1000))
    await until(() => replies.length === 1)
    socket.send(count(1000))
    await until(() => replies.length === 2)
    expect(replies[1]).toEqual(replies[0])
    socket.send(count(1001))
    await until(() => replies.length === 3)
    const value = (m: Buffer) => {
      const r = decodeReply(m)
      return r.status === 'SUCCESS' ? xdr.uint.decode(r.reader) : -1
    }
    expect(value(replies[2]!)).toBe(value(replies[0]!) + 1)
    // another client with the same xid is another call
    const other = await udpRaw(port)
    other.socket.send(count(1000))
    await until(() => other.replies.length === 1)
    expect(value(other.replies[0]!)).toBe(value(replies[0]!) + 2)
  })

  it('drops a retransmission that arrives while the call is still running: one execution, one reply', async () => {
    const { port } = await serve(EventLoopUDPServer, CalcDatagram)
    const { socket, replies } = await udpRaw(port)
    const slow = encodeCall({ xid: 2000, prog: CALC_PROG, vers: 1, proc: 8 }, xdr.uint, 300).body()
    socket.send(slow)
    await new Promise((r) => setTimeout(r, 50))
    socket.send(slow)
    socket.send(slow)
    await until(() => replies.length === 1)
    await new Promise((r) => setTimeout(r, 200))
    expect(replies).toHaveLength(1)
    socket.send(slow)
    await until(() => replies.length === 2)
    expect(replies[1]).toEqual(replies[0])
  })

  it('bounds the cache by entries, evicting the oldest', async () => {
    const { ReplyCache } = await import('@socketserver/sunrpc')
    const cache = new ReplyCache({ maxEntries: 2 })
    const reply = encodeCall({ xid: 1, prog: 1, vers: 1, proc: 0 }, xdr.void, undefined)
    for (const key of ['a', 'b', 'c']) {
      expect(cache.lookup(key)).toBe('run')
      cache.store(key, reply)
    }
    expect(cache.size).toBe(2)
    expect(cache.lookup('a')).toBe('run') // evicted
    expect(cache.lookup('c')).toBe(reply)
  })
})

describe('sequential servers (one request at a time)', () => {
  it.each([
    ['tcp', TCPServer, CalcStream],
    ['udp', UDPServer, CalcDatagram],
  ] as const)('serve calls over %s', async (transport, Server, Handler) => {
    const { port } = await serve(Server, Handler)
    const c = await client(port, transport)
    const sums = await Promise.all(
      [1, 2, 3].map((n) => c.call(CALC_PROG, 1, 1, pair, { a: n, b: n }, xdr.int)),
    )
    expect(sums).toEqual([2, 4, 6])
    const w = await c.call(CALC_PROG, 1, 7, xdr.void, undefined, where)
    expect(w.pid).toBe(process.pid)
  })
})
