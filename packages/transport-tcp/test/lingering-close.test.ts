import { once } from 'node:events'
import net from 'node:net'
import { BaseRequestHandler, type InetAddress } from '@socketserver/core'
import { EventLoopTCPServer, TCPServer } from '@socketserver/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'

/** Resolves once the first newline has arrived; reads nothing past the chunk that holds it. */
async function readFirstLine(socket: net.Socket): Promise<void> {
  for (;;) {
    const chunk = socket.read() as Buffer | null
    if (chunk?.includes(0x0a)) return
    if (chunk === null) await once(socket, 'readable')
  }
}

// The server answers after one line and closes without reading the rest the client is still sending.
// A plain close() with unread input sends RST, which can destroy the reply in flight; the lingering
// close (FIN, discard until the client's FIN, up to lingerBytes) must deliver all of it.
class AnswerFirstLine extends BaseRequestHandler<net.Socket, InetAddress> {
  override async handle() {
    await readFirstLine(this.request)
    if (!this.request.write(Buffer.alloc(256 * 1024, 0x72))) await once(this.request, 'drain')
  }
}

let server: EventLoopTCPServer | undefined
afterEach(async () => {
  await server?.shutdownGracefully({ timeout: 1_000 })
  server = undefined
})

function talk(port: number, chunks = 8): Promise<{ received: number; error?: string }> {
  return new Promise((resolve) => {
    let received = 0
    const client = net.connect(port, '127.0.0.1', () => {
      client.write('question\n')
      const junk = Buffer.alloc(64 * 1024, 0x6a)
      for (let i = 0; i < chunks; i++) client.write(junk) // what the server never reads
      client.end()
    })
    client.on('data', (d: Buffer) => {
      received += d.length
    })
    client.on('error', (e: NodeJS.ErrnoException) => resolve({ received, error: e.code }))
    client.on('close', () => resolve({ received }))
  })
}

describe('closing a connection with unread input', () => {
  it('delivers the whole reply (no RST), 20 times in a row', async () => {
    server = await EventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, AnswerFirstLine)
    void server.serveForever({ pollInterval: 50 })
    const results = await Promise.all(Array.from({ length: 20 }, () => talk(server!.serverAddress.port)))
    for (const result of results) expect(result).toEqual({ received: 256 * 1024 })
  })

  it('resets a client that sends more than lingerBytes (1 MiB) after the close: bounded work for junk', async () => {
    server = await EventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, AnswerFirstLine)
    void server.serveForever({ pollInterval: 50 })
    // 64 MiB the server never reads: far past what it discards before giving up.
    const result = await talk(server.serverAddress.port, 1024)
    expect(result.error).toMatch(/^(ECONNRESET|EPIPE)$/)
  })

  it('gives up after lingerTimeout on a client that keeps the connection open', async () => {
    class Hello extends BaseRequestHandler<net.Socket, InetAddress> {
      override handle() {
        this.request.write('bye\n')
      }
    }
    const sequential = await TCPServer.create({ host: '127.0.0.1', port: 0 }, Hello, { lingerTimeout: 100 })
    const loop = sequential.serveForever({ pollInterval: 20 })
    try {
      const client = net.connect(sequential.serverAddress.port, '127.0.0.1')
      client.on('data', () => {}) // reads, but never ends its side
      const closed = new Promise<boolean>((resolve) => client.on('close', resolve))
      await closed // the server closed the descriptor without waiting for our FIN
      expect(client.readableEnded).toBe(true)
    } finally {
      await sequential.shutdown()
      await sequential.serverClose()
      await loop
    }
  })
})
