import dgram from 'node:dgram'
import { type InetAddress, LineTooLongError, runHandler } from '@socketserver/core'
import { DatagramRequestHandler, MAX_UDP_PAYLOAD } from '@socketserver/stream-handlers'
import { afterEach, describe, expect, it } from 'vitest'

const opened: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close()
})

type HandlerClass = new (...args: any[]) => DatagramRequestHandler

/**
 * A bare datagram server on a real socket: runs `Handler` on each datagram, one after the other,
 * as UDPServer does (stream-handlers does not depend on a transport; transport-udp's own tests run
 * this handler under UDPServer and EventLoopUDPServer).
 */
async function serve(Handler: HandlerClass, { host = '127.0.0.1' } = {}) {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
  await new Promise<void>((resolve) => socket.bind(0, host, resolve))
  const errors: unknown[] = []
  let queue = Promise.resolve()
  socket.on('message', (packet, from) => {
    const clientAddress = { address: from.address, port: from.port, family: from.family }
    const handler = new Handler([packet, socket], clientAddress, undefined)
    queue = queue.then(() => runHandler(handler)).catch((error: unknown) => void errors.push(error))
  })
  opened.push(() => void socket.close())
  return { socket, port: socket.address().port, errors }
}

/** A client socket on loopback keeping every datagram it receives. */
async function client(family: 'IPv4' | 'IPv6' = 'IPv4') {
  const socket = dgram.createSocket(family === 'IPv6' ? 'udp6' : 'udp4')
  const host = family === 'IPv6' ? '::1' : '127.0.0.1'
  await new Promise<void>((resolve) => socket.bind(0, host, resolve))
  opened.push(() => void socket.close())
  const received: Array<{ data: Buffer; from: dgram.RemoteInfo }> = []
  socket.on('message', (data, from) => received.push({ data, from }))
  let taken = 0
  return {
    port: socket.address().port,
    received,
    send(data: string | Buffer, port: number) {
      return new Promise<void>((resolve, reject) =>
        socket.send(data, port, host, (error) => (error ? reject(error) : resolve())),
      )
    },
    /** The next datagram; rejects after 5 s. */
    async next() {
      const deadline = Date.now() + 5_000
      while (received.length <= taken) {
        if (Date.now() > deadline) throw new Error('no datagram within 5 s')
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
      return received[taken++]!
    },
  }
}

class Echo extends DatagramRequestHandler {
  override async handle() {
    await this.wfile.write(this.packet)
  }
}

describe('DatagramRequestHandler', () => {
  it.each([
    ['IPv4', '127.0.0.1'],
    ['IPv6', '::1'],
  ] as const)(
    'echoes over %s from the socket the datagram came in on, with packet and socket set',
    async (family, host) => {
      const seen: Array<{ packet: Buffer; socket: unknown; clientAddress: InetAddress }> = []
      class Recording extends Echo {
        override async handle() {
          seen.push({ packet: this.packet, socket: this.socket, clientAddress: this.clientAddress })
          await super.handle()
        }
      }
      const { socket, port } = await serve(Recording, { host })
      const c = await client(family)
      await c.send('hello', port)
      const reply = await c.next()
      expect(reply.data.toString()).toBe('hello')
      expect(reply.from).toMatchObject({ address: host, port })
      expect(seen[0]!.packet.toString()).toBe('hello')
      expect(seen[0]!.socket).toBe(socket)
      expect(seen[0]!.clientAddress).toEqual({ address: host, port: c.port, family })
    },
  )

  it('rfile reads the packet: readline, read(n), read1, read() to the end, then empty', async () => {
    class Reader extends DatagramRequestHandler {
      override async handle() {
        const parts = [
          await this.rfile.readline(),
          await this.rfile.read(3),
          await this.rfile.read1(2),
          await this.rfile.read(),
          await this.rfile.readline(),
          await this.rfile.read1(),
        ]
        await this.wfile.write(JSON.stringify(parts.map(String)))
      }
    }
    const { port } = await serve(Reader)
    const c = await client()
    await c.send('first line\nabcdefghij', port)
    expect(JSON.parse((await c.next()).data.toString())).toEqual([
      'first line\n',
      'abc',
      'de',
      'fghij',
      '',
      '',
    ])
  })

  it('for await (const line of rfile) yields the lines of the packet, the last without a newline', async () => {
    class Upper extends DatagramRequestHandler {
      override async handle() {
        for await (const line of this.rfile) await this.wfile.write(`[${line.toString().toUpperCase()}]`)
      }
    }
    const { port } = await serve(Upper)
    const c = await client()
    await c.send('one\ntwo\nthree', port)
    expect((await c.next()).data.toString()).toBe('[ONE\n][TWO\n][THREE]')
  })

  it('readline over maxLineLength rejects with LineTooLongError', async () => {
    class Short extends DatagramRequestHandler {
      override maxLineLength = 4
      override async handle() {
        await this.rfile.readline()
      }
    }
    const { port, errors } = await serve(Short)
    const c = await client()
    await c.send('too long a line\n', port)
    const deadline = Date.now() + 5_000
    while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2))
    expect(errors[0]).toBeInstanceOf(LineTooLongError)
  })

  it('several writes leave as one datagram; no write sends nothing; an empty write sends an empty datagram', async () => {
    class Varied extends DatagramRequestHandler {
      override async handle() {
        const word = this.packet.toString()
        if (word === 'many') for (const part of ['a', 'b', 'c']) await this.wfile.write(part)
        if (word === 'empty') await this.wfile.write('')
        // 'silent': no write at all
        if (word === 'marker') await this.wfile.write('marker')
      }
    }
    const { port } = await serve(Varied)
    const c = await client()
    for (const word of ['many', 'silent', 'empty', 'marker']) await c.send(word, port)
    const replies = [await c.next(), await c.next(), await c.next()]
    expect(replies.map((r) => r.data.toString())).toEqual(['abc', '', 'marker'])
    expect(c.received).toHaveLength(3)
  })

  it('what was written before handle() threw is still sent (as in Python), and the error goes to handleError', async () => {
    class Partial extends DatagramRequestHandler {
      override async handle() {
        await this.wfile.write('partial')
        throw new Error('after writing')
      }
    }
    const { port, errors } = await serve(Partial)
    const c = await client()
    await c.send('x', port)
    expect((await c.next()).data.toString()).toBe('partial')
    expect((errors[0] as Error).message).toBe('after writing')
  })

  it('a reply past maxReplySize rejects with DatagramTooLargeError and keeps what fitted', async () => {
    class Big extends DatagramRequestHandler {
      override maxReplySize = 10
      override async handle() {
        await this.wfile.write('0123456')
        const error = await this.wfile.write('789ab').catch((e: NodeJS.ErrnoException) => e)
        await this.wfile.write(`${(error as NodeJS.ErrnoException).code}`.slice(8, 11)) // SOCKSRV_DATAGRAM_...
      }
    }
    const { port } = await serve(Big)
    const c = await client()
    await c.send('x', port)
    expect((await c.next()).data.toString()).toBe('0123456DAT')
  })

  it('replies up to the largest UDP/IPv4 payload by default', async () => {
    class Largest extends DatagramRequestHandler {
      override async handle() {
        await this.wfile.write(Buffer.alloc(MAX_UDP_PAYLOAD, 0x62))
      }
    }
    const { port, errors } = await serve(Largest)
    const c = await client()
    await c.send('x', port)
    const reply = await c.next()
    expect(reply.data.length).toBe(MAX_UDP_PAYLOAD)
    expect(errors).toEqual([])
  })
})
