import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type net from 'node:net'
import { fileURLToPath } from 'node:url'
import { LineTooLongError, ReadLimitError, SocketTimeoutError } from '@socketserver/core'
import { ignoreSocketError } from '@socketserver/core/transport'
import { SocketReader, StreamRequestHandler } from '@socketserver/stream-handlers'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, exchange, serve, until } from './helpers.js'

let running: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  await Promise.all(running.map((s) => s.close()))
  running = []
})
async function start(Handler: new (...args: any[]) => StreamRequestHandler) {
  const s = await serve(Handler)
  running.push(s)
  return s
}

class Echo extends StreamRequestHandler {
  override async handle() {
    for (let chunk = await this.rfile.read1(); chunk.length > 0; chunk = await this.rfile.read1()) {
      await this.wfile.write(chunk)
    }
  }
}

describe('rfile', () => {
  it('readline returns lines with their newline, then the rest at EOF, then empty', async () => {
    class Lines extends StreamRequestHandler {
      override async handle() {
        const seen: string[] = []
        for (let i = 0; i < 4; i++) seen.push(JSON.stringify((await this.rfile.readline()).toString()))
        await this.wfile.write(seen.join(','))
      }
    }
    const { port } = await start(Lines)
    expect((await exchange(port, 'one\ntwo\nrest')).toString()).toBe('"one\\n","two\\n","rest",""')
  })

  it("async iteration yields each line, as Python's for line in rfile", async () => {
    class Count extends StreamRequestHandler {
      override async handle() {
        let n = 0
        for await (const line of this.rfile) n += line.at(-1) === 0x0a ? 1 : 0
        await this.wfile.write(`${n}`)
      }
    }
    const { port } = await start(Count)
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i}\n`).join('')
    expect((await exchange(port, lines)).toString()).toBe('500')
  })

  it('readline over the limit rejects with LineTooLongError instead of buffering', async () => {
    let caught: unknown
    let buffered = -1
    class Limited extends StreamRequestHandler {
      override maxLineLength = 1024
      override async handle() {
        try {
          await this.rfile.readline()
        } catch (error) {
          caught = error
          buffered = this.rfile.buffered
          await this.wfile.write('too long\n')
        }
      }
    }
    const { port } = await start(Limited)
    const reply = await exchange(port, Buffer.alloc(1024 * 1024, 0x61)) // 1 MiB, no newline
    expect(reply.toString()).toBe('too long\n')
    expect(caught).toBeInstanceOf(LineTooLongError)
    expect((caught as LineTooLongError).code).toBe('SOCKSRV_LINE_TOO_LONG')
    // Read no further than the limit plus the socket's own read-ahead.
    expect(buffered).toBeGreaterThan(1024)
    expect(buffered).toBeLessThan(1024 + 128 * 1024)
  })

  it('readline({ limit }) overrides the handler default; a line of exactly the limit passes', async () => {
    class Exact extends StreamRequestHandler {
      override async handle() {
        const a = await this.rfile.readline({ limit: 4 })
        const b = await this.rfile.readline({ limit: 4 }).catch((e: Error) => e)
        await this.wfile.write(`${a.length}:${(b as LineTooLongError).code}`)
      }
    }
    const { port } = await start(Exact)
    expect((await exchange(port, 'abc\nabcd\n')).toString()).toBe('4:SOCKSRV_LINE_TOO_LONG')
  })

  it('read(n) returns exactly n bytes across chunks, fewer only at EOF; read() reads to EOF', async () => {
    class Reads extends StreamRequestHandler {
      override async handle() {
        const a = await this.rfile.read(3)
        const b = await this.rfile.read(5)
        const rest = await this.rfile.read()
        const after = await this.rfile.read(10)
        await this.wfile.write(`${a}|${b}|${rest.length}|${after.length}`)
      }
    }
    const { port } = await start(Reads)
    expect((await exchange(port, `abcdefgh${'x'.repeat(100_000)}`)).toString()).toBe('abc|defgh|100000|0')
  })

  it('read() to EOF past maxReadSize rejects with ReadLimitError', async () => {
    let caught: unknown
    class Big extends StreamRequestHandler {
      override maxReadSize = 64 * 1024
      override async handle() {
        caught = await this.rfile.read().catch((e) => e)
      }
    }
    const { port } = await start(Big)
    await exchange(port, Buffer.alloc(1024 * 1024)).catch(() => {})
    expect(caught).toBeInstanceOf(ReadLimitError)
  })

  it('a read waiting longer than timeout rejects with SocketTimeoutError', async () => {
    let caught: unknown
    class Idle extends StreamRequestHandler {
      override timeout = 100
      override async handle() {
        caught = await this.rfile.readline().catch((e) => e)
      }
    }
    const { port } = await start(Idle)
    const client = await connect(port)
    await once(client, 'close') // the server closes the connection after the timeout
    expect(caught).toBeInstanceOf(SocketTimeoutError)
    expect((caught as SocketTimeoutError).code).toBe('SOCKSRV_TIMEOUT')
  })

  it('a client reset surfaces as an error to the handler, and the server keeps serving', async () => {
    const errors: unknown[] = []
    let reading!: () => void
    const handlerReading = new Promise<void>((r) => (reading = r))
    class Waits extends StreamRequestHandler {
      override async handle() {
        reading()
        await this.rfile.read(10)
      }
    }
    const s = await serve(Waits, errors)
    running.push(s)
    const client = await connect(s.port)
    await handlerReading
    client.resetAndDestroy()
    await until(() => s.server.activeRequestCount === 0)
    // The reset reaches the handler as ECONNRESET (or as a plain end of stream), never as a crash.
    for (const error of errors) expect((error as NodeJS.ErrnoException).code).toBe('ECONNRESET')
    expect((await exchange(s.port, '')).length).toBe(0) // still serving
  })

  it('a reader made after rfile is closed takes the connection over; one made while rfile reads gets the data too', async () => {
    // Readers share their event listeners and find themselves through the socket: check the hand-over.
    class Handover extends StreamRequestHandler {
      override async handle() {
        const first = (await this.rfile.readline()).toString()
        const both = new SocketReader(this.connection) // while rfile still reads: both see what comes
        await this.wfile.write('ready\n')
        const [a, b] = await Promise.all([this.rfile.readline(), both.readline()])
        this.rfile.close()
        both.close()
        await this.wfile.write('next\n')
        const next = new SocketReader(this.connection) // after both closed: the only reader
        const rest = (await next.read()).toString()
        next.close()
        await this.wfile.write(JSON.stringify([first, a.toString(), b.toString(), rest]))
      }
    }
    const { port } = await start(Handover)
    const socket = await connect(port)
    let received = ''
    socket.on('data', (part: Buffer) => (received += part.toString()))
    socket.write('one\n')
    await until(() => received === 'ready\n')
    socket.write('two\n')
    await until(() => received === 'ready\nnext\n')
    socket.end('three and more')
    await once(socket, 'end')
    expect(JSON.parse(received.slice('ready\nnext\n'.length))).toEqual([
      'one\n',
      'two\n',
      'two\n',
      'three and more',
    ])
  })
})

describe('wfile', () => {
  it('round-trips 10 MB of binary data through read1/write', async () => {
    const { port } = await start(Echo)
    const data = randomBytes(10 * 1024 * 1024)
    const socket = await connect(port)
    const hash = createHash('sha256')
    let received = 0
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (d: Buffer) => {
        hash.update(d)
        received += d.length
      })
      socket.on('end', resolve)
      socket.on('error', reject)
    })
    socket.end(data)
    await done
    expect(received).toBe(data.length)
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'))
  })

  it('a client that never reads cannot make the server buffer more than a bounded amount', async () => {
    let socket!: net.Socket
    let written = 0
    let maxQueued = 0
    class Flood extends StreamRequestHandler {
      override async handle() {
        socket = this.connection
        const chunk = Buffer.alloc(256 * 1024)
        for (;;) {
          await this.wfile.write(chunk) // 256 KiB writes go in 64 KiB pieces
          written += chunk.length
          maxQueued = Math.max(maxQueued, this.connection.writableLength)
        }
      }
    }
    const { port } = await start(Flood)
    const client = await connect(port)
    client.pause() // never read
    await until(() => written > 0)
    await new Promise((r) => setTimeout(r, 300))
    const stalledAt = written
    await new Promise((r) => setTimeout(r, 300))
    expect(written).toBe(stalledAt) // the handler is parked on backpressure
    expect(written).toBeLessThan(64 * 1024 * 1024) // kernel buffers plus our bound, not unbounded
    expect(maxQueued).toBeLessThanOrEqual(socket.writableHighWaterMark + 64 * 1024)
    client.destroy()
  })

  it('a write blocked longer than timeout rejects with SocketTimeoutError and closes the connection', async () => {
    let caught: unknown
    class Stuck extends StreamRequestHandler {
      override timeout = 200
      override async handle() {
        const chunk = Buffer.alloc(1024 * 1024)
        try {
          for (;;) await this.wfile.write(chunk)
        } catch (error) {
          caught = error
        }
      }
    }
    const { port } = await start(Stuck)
    const client = await connect(port)
    client.pause()
    await until(() => caught !== undefined)
    expect(caught).toBeInstanceOf(SocketTimeoutError)
    expect((caught as Error).message).toMatch(/write/)
    client.destroy()
  })

  it('writes after the peer is gone reject with ConnectionClosedError', async () => {
    let caught: unknown
    class Late extends StreamRequestHandler {
      override async handle() {
        await this.rfile.read() // until EOF
        this.connection.destroy()
        caught = await this.wfile.write('x').catch((e) => e)
      }
    }
    const { port } = await start(Late)
    await exchange(port, 'bye')
    await until(() => caught !== undefined)
    expect((caught as { code?: string }).code).toBe('SOCKSRV_CONNECTION_CLOSED')
  })

  it('flush() resolves once written data has reached the kernel', async () => {
    let pending = -1
    class Flushes extends StreamRequestHandler {
      override async handle() {
        await this.wfile.write(Buffer.alloc(200_000, 0x62))
        await this.wfile.flush()
        pending = this.connection.writableLength
      }
    }
    const { port } = await start(Flushes)
    const reply = await exchange(port, '')
    expect(reply.length).toBe(200_000)
    expect(pending).toBe(0)
  })
})

describe('rfile.copyTo(wfile)', () => {
  class CopyEcho extends StreamRequestHandler {
    static copied: number[] = []
    override async handle() {
      CopyEcho.copied.push(await this.rfile.copyTo(this.wfile))
    }
  }

  it('copies everything to end of stream, including what readline had buffered, and reports the count', async () => {
    class LineThenCopy extends StreamRequestHandler {
      override async handle() {
        const first = await this.rfile.readline()
        await this.wfile.write(first.toString().toUpperCase())
        await this.rfile.copyTo(this.wfile)
      }
    }
    const { port } = await start(LineThenCopy)
    const tail = randomBytes(3 * 1024 * 1024)
    const reply = await exchange(port, Buffer.concat([Buffer.from('head\n'), tail]))
    expect(reply.subarray(0, 5).toString()).toBe('HEAD\n')
    expect(reply.subarray(5).equals(tail)).toBe(true)
  })

  it('handle() may return the copy itself: the connection stays served until it resolves', async () => {
    class ReturnCopy extends StreamRequestHandler {
      override handle() {
        return this.rfile.copyTo(this.wfile)
      }
    }
    const { port } = await start(ReturnCopy)
    const data = randomBytes(256 * 1024)
    expect((await exchange(port, data)).equals(data)).toBe(true)
  })

  it('what copyTo() returns is a promise when used: then, catch, finally and await, before or after it settles', async () => {
    const seen: unknown[] = []
    class Uses extends StreamRequestHandler {
      override async handle() {
        const copy = this.rfile.copyTo(this.wfile)
        seen.push(Object.prototype.toString.call(copy))
        const viaFinally = copy.finally(() => seen.push('finally'))
        seen.push(await copy, await viaFinally, await copy.then((n) => n * 2))
        // Asked for only after it settled: the same count.
        seen.push(await copy.catch(() => -1))
      }
    }
    const { port } = await start(Uses)
    expect((await exchange(port, 'abc')).toString()).toBe('abc')
    await until(() => seen.length === 6)
    expect(seen).toEqual(['[object Promise]', 'finally', 3, 3, 6, 3])
  })

  it('a copy that fails with nobody asking is an unhandled rejection, as a native promise would be', async () => {
    // In a process of its own: Node's default for an unhandled rejection ends the process.
    const script = `
      import net from 'node:net'
      import { EventLoopTCPServer } from '@socketserver/transport-tcp'
      import { StreamRequestHandler } from '@socketserver/stream-handlers'
      class Ignores extends StreamRequestHandler {
        timeout = 100
        async handle() {
          void this.rfile.copyTo(this.wfile) // neither awaited nor returned
          await new Promise((r) => setTimeout(r, 2000))
        }
      }
      const server = await EventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, Ignores)
      void server.serveForever({ pollInterval: 50 })
      net.connect(server.serverAddress.port, '127.0.0.1').on('error', () => {}) // sends nothing
      setTimeout(() => process.exit(0), 1500).unref()`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const [code] = await once(child, 'exit')
    expect(code).toBe(1)
    expect(stderr).toMatch(/SOCKSRV_TIMEOUT/)
  })

  it("the reader takes the place of the socket's error listener while attached, and gives it back", async () => {
    const counts: Array<[number, number]> = []
    class Counts extends StreamRequestHandler {
      override setup() {
        const socket = this.request
        counts.push([socket.listenerCount('error'), socket.listenerCount('error', ignoreSocketError)])
        super.setup()
        counts.push([socket.listenerCount('error'), socket.listenerCount('error', ignoreSocketError)])
      }
      override finish() {
        super.finish()
        counts.push([
          this.request.listenerCount('error'),
          this.request.listenerCount('error', ignoreSocketError),
        ])
      }
      override handle() {
        return this.rfile.copyTo(this.wfile)
      }
    }
    const { port } = await start(Counts)
    expect((await exchange(port, 'x')).toString()).toBe('x')
    await until(() => counts.length === 3)
    // Accepted with the transport's one listener; the reader's alone while reading; the transport's again.
    expect(counts).toEqual([
      [1, 1],
      [1, 0],
      [1, 1],
    ])
  })

  it('readers keep their own buffers: data one connection buffered never shows on another', async () => {
    class Lines extends StreamRequestHandler {
      override async handle() {
        for await (const line of this.rfile) await this.wfile.write(line)
      }
    }
    const { port } = await start(Lines)
    const inputs = Array.from({ length: 8 }, (_, i) => `c${i}-1\nc${i}-2\nc${i}-3\n`)
    const replies = await Promise.all(inputs.map((input) => exchange(port, input)))
    expect(replies.map(String)).toEqual(inputs)
  })

  it('round-trips 10 MB and resolves with the byte count', async () => {
    CopyEcho.copied = []
    const { port } = await start(CopyEcho)
    const data = randomBytes(10 * 1024 * 1024)
    const reply = await exchange(port, data)
    expect(createHash('sha256').update(reply).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    )
    await until(() => CopyEcho.copied.length === 1)
    expect(CopyEcho.copied[0]).toBe(data.length)
  })

  it('pauses the source while the destination does not read: memory stays bounded', async () => {
    let connection!: net.Socket
    let copying!: Promise<number>
    class Copy extends StreamRequestHandler {
      override async handle() {
        connection = this.connection
        copying = this.rfile.copyTo(this.wfile)
        await copying.catch(() => {})
      }
    }
    const { port } = await start(Copy)
    const client = await connect(port)
    client.pause() // sends, never reads its echo
    const chunk = Buffer.alloc(64 * 1024)
    for (let i = 0; i < 512; i++) client.write(chunk) // 32 MiB, more than every kernel buffer between us
    await until(() => connection?.isPaused() === true)
    expect(connection.writableLength).toBeLessThanOrEqual(connection.writableHighWaterMark + 64 * 1024)
    expect(connection.readableLength).toBeLessThanOrEqual(connection.readableHighWaterMark + 64 * 1024)
    client.destroy()
    // The reset ends the copy, as end of stream or as an error: it must not hang.
    const copied = await copying.catch(() => -1)
    expect(copied === -1 || copied > 0).toBe(true)
  })

  it('a stalled destination past timeout rejects with SocketTimeoutError (write) and closes the connection', async () => {
    let caught: unknown
    class Stalled extends StreamRequestHandler {
      override timeout = 200
      override async handle() {
        caught = await this.rfile.copyTo(this.wfile).catch((e) => e)
      }
    }
    const { port } = await start(Stalled)
    const client = await connect(port)
    client.pause()
    const chunk = Buffer.alloc(64 * 1024)
    for (let i = 0; i < 200 && !client.destroyed; i++) {
      client.write(chunk)
      await new Promise((r) => setImmediate(r))
    }
    await until(() => caught !== undefined)
    expect(caught).toBeInstanceOf(SocketTimeoutError)
    expect((caught as Error).message).toMatch(/write/)
    client.destroy()
  })
})
