import dgram from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '@socketserver/compliance-tests'
import { ForkingMixIn } from '@socketserver/concurrency-fork'
import { UDPServer } from '@socketserver/transport-udp'
import { UnixDatagramServer, UnixDatagramSocket } from '@socketserver/transport-unix'
import { afterEach, describe, expect, it } from 'vitest'
import { DatagramPidEcho, DatagramThrower, RawUdpEcho, UnixDatagramEcho } from './fixtures/handlers.mjs'
import { expectNoChildren, handlerModule } from './helpers.js'

class ForkingUDPServer extends ForkingMixIn(UDPServer) {
  errors: unknown[] = []
  override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
    this.errors.push(error)
  }
}
class ForkingUnixDatagramServer extends ForkingMixIn(UnixDatagramServer) {}

const cleanups: Array<() => unknown> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  await expectNoChildren()
})

/** A UDP client on the loopback address of `family`; `exchange` sends one datagram and waits for the reply. */
async function udpClient(family: 'IPv4' | 'IPv6') {
  const socket = dgram.createSocket(family === 'IPv6' ? 'udp6' : 'udp4')
  await new Promise<void>((resolve) => socket.bind(0, family === 'IPv6' ? '::1' : '127.0.0.1', resolve))
  cleanups.push(() => socket.close())
  const replies: Array<{ data: string; from: dgram.RemoteInfo }> = []
  socket.on('message', (data, from) => replies.push({ data: data.toString(), from }))
  return {
    socket,
    replies,
    async exchange(data: string, port: number, host: string) {
      const count = replies.length
      socket.send(data, port, host)
      await waitFor(() => replies.length > count, { what: `a reply to ${JSON.stringify(data)}` })
      return replies[count]!
    },
  }
}

describe('ForkingMixIn(UDPServer)', () => {
  for (const [family, host] of [
    ['IPv4', '127.0.0.1'],
    ['IPv6', '::1'],
  ] as const) {
    for (const forkMode of ['pool', 'per-request'] as const) {
      it(`handles datagrams in children and replies from the server's address (${family}, ${forkMode})`, async () => {
        const server = await ForkingUDPServer.create({ host, port: 0 }, DatagramPidEcho, {
          handlerModule,
          processes: 2,
          forkMode,
        })
        cleanups.push(() => server.serverClose())
        void server.serveForever({ pollInterval: 20 })
        const client = await udpClient(family)
        const pids = new Set<string>()
        for (let i = 0; i < 4; i++) {
          const { data, from } = await client.exchange(`ping ${i}`, server.serverAddress.port, host)
          const [pid, text] = data.split(':')
          expect(text).toBe(`ping ${i}`)
          expect(Number(pid)).not.toBe(process.pid)
          pids.add(pid!)
          // The reply left through the server's own socket.
          expect(from.port).toBe(server.serverAddress.port)
          expect(from.address).toBe(host)
        }
        expect(pids.size).toBe(forkMode === 'pool' ? 2 : 4)
        await server.shutdown()
      })
    }
  }

  it("gives raw handlers a socket with dgram's send(msg, port, address, callback)", async () => {
    const server = await ForkingUDPServer.create({ host: '127.0.0.1', port: 0 }, RawUdpEcho, {
      handlerModule,
      processes: 1,
    })
    cleanups.push(() => server.serverClose())
    void server.serveForever({ pollInterval: 20 })
    const client = await udpClient('IPv4')
    const { data, from } = await client.exchange('raw', server.serverAddress.port, '127.0.0.1')
    expect(data).toBe('raw')
    expect(from.port).toBe(server.serverAddress.port)
  })

  it('passes a handler error to handleError with the remote message, and keeps serving', async () => {
    const server = await ForkingUDPServer.create({ host: '127.0.0.1', port: 0 }, DatagramThrower, {
      handlerModule,
      processes: 1,
    })
    cleanups.push(() => server.serverClose())
    void server.serveForever({ pollInterval: 20 })
    const client = await udpClient('IPv4')
    client.socket.send('broken\n', server.serverAddress.port, '127.0.0.1')
    client.socket.send('again\n', server.serverAddress.port, '127.0.0.1')
    await waitFor(() => server.errors.length === 2, { what: 'two handler errors' })
    expect((server.errors as Error[]).map((e) => e.message).sort()).toEqual([
      'handler failed: again',
      'handler failed: broken',
    ])
    expect(server.errors[0]).toMatchObject({ code: 'SOCKSRV_REMOTE_HANDLER_ERROR', remoteName: 'TypeError' })
  })
})

describe('ForkingMixIn(UnixDatagramServer)', () => {
  for (const forkMode of ['pool', 'per-request'] as const) {
    it(`handles datagrams in children and replies from the server's path (${forkMode})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ssfork-'))
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
      const server = await ForkingUnixDatagramServer.create(join(dir, 'server.sock'), UnixDatagramEcho, {
        handlerModule,
        processes: 2,
        forkMode,
      })
      cleanups.push(() => server.serverClose())
      void server.serveForever({ pollInterval: 20 })
      const replies: string[] = []
      const client = await UnixDatagramSocket.open(
        (packet) => replies.push(packet.toString()),
        () => {},
      )
      cleanups.push(() => client.close())
      client.bind(join(dir, 'client.sock'))
      for (let i = 0; i < 3; i++) {
        await client.send(`unix ${i}`, server.serverAddress)
        await waitFor(() => replies.length === i + 1, { what: `reply ${i}` })
        expect(replies[i]).toBe(`unix ${i}`)
      }
      await server.shutdown()
    })
  }
})
