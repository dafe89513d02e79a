import { once } from 'node:events'
import { PassThrough } from 'node:stream'
import { LineTooLongError, SocketTimeoutError } from '@socketserver/core'
import { SocketReader, StreamRequestHandler } from '@socketserver/stream-handlers'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, serve, until } from './helpers.js'

let running: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  await Promise.all(running.map((s) => s.close()))
  running = []
})

const PAYLOAD = 'ab\ncd\n\nefg\nh'
const LINES = ['ab\n', 'cd\n', '\n', 'efg\n', 'h']

/** A reader over a stream fed `chunks`, each pushed once the reader has taken the one before. */
function feed(chunks: string[]): SocketReader {
  const source = new PassThrough()
  const reader = new SocketReader(source)
  void (async () => {
    for (const chunk of chunks) {
      source.write(chunk)
      await new Promise((r) => setImmediate(r))
    }
    source.end()
  })()
  return reader
}

async function lines(reader: SocketReader): Promise<string[]> {
  const out: string[] = []
  for await (const line of reader) out.push(line.toString())
  return out
}

describe('for await (const line of rfile)', () => {
  it('yields the same lines however the bytes are split into chunks (every pair of cut points)', async () => {
    for (let i = 0; i <= PAYLOAD.length; i++) {
      for (let j = i; j <= PAYLOAD.length; j++) {
        const chunks = [PAYLOAD.slice(0, i), PAYLOAD.slice(i, j), PAYLOAD.slice(j)].filter((c) => c.length)
        expect(await lines(feed(chunks)), JSON.stringify(chunks)).toEqual(LINES)
      }
    }
    // One byte at a time, and all at once (every line already buffered: the synchronous path).
    expect(await lines(feed([...PAYLOAD]))).toEqual(LINES)
    expect(await lines(feed([PAYLOAD]))).toEqual(LINES)
  })

  it('readline() and the iterator interleave on one reader', async () => {
    const reader = feed(['ab\ncd\n', '\nefg\nh'])
    expect((await reader.readline()).toString()).toBe('ab\n')
    const iterator = reader[Symbol.asyncIterator]()
    expect((await iterator.next()).value.toString()).toBe('cd\n')
    expect((await reader.readline()).toString()).toBe('\n')
    expect(await lines(reader)).toEqual(['efg\n', 'h'])
    expect(await iterator.next()).toEqual({ value: undefined, done: true })
  })

  it('after a rejected next() the iteration is over ({ done: true }), as an async generator would be', async () => {
    const reader = new SocketReader(new PassThrough().end('0123456789\nnext\n'), { maxLineLength: 4 })
    const iterator = reader[Symbol.asyncIterator]()
    await expect(iterator.next()).rejects.toBeInstanceOf(LineTooLongError)
    expect(await iterator.next()).toEqual({ value: undefined, done: true })
    // The bytes stay buffered for the reader's other reads.
    expect((await reader.read(11)).toString()).toBe('0123456789\n')
  })

  it('the iterator is itself iterable, as an async generator is', async () => {
    const iterator = feed(['one\ntwo\n'])[Symbol.asyncIterator]()
    expect((await iterator.next()).value.toString()).toBe('one\n')
    const rest: string[] = []
    for await (const line of iterator) rest.push(line.toString())
    expect(rest).toEqual(['two\n'])
  })

  it('break ends the iteration (return()) and leaves the reader usable', async () => {
    const reader = feed(['one\ntwo\nthree\n'])
    for await (const line of reader) {
      expect(line.toString()).toBe('one\n')
      break
    }
    expect((await reader.readline()).toString()).toBe('two\n')
  })

  it("serves the README's handler over TCP for a line cut at every byte boundary", async () => {
    class Lines extends StreamRequestHandler {
      override disableNagleAlgorithm = true
      override async handle() {
        for await (const line of this.rfile) await this.wfile.write(line)
      }
    }
    const s = await serve(Lines)
    running.push(s)
    for (let i = 1; i < PAYLOAD.length; i++) {
      const client = await connect(s.port)
      client.setNoDelay(true)
      const parts: Buffer[] = []
      client.on('data', (d) => parts.push(d))
      client.write(PAYLOAD.slice(0, i))
      await new Promise((r) => setTimeout(r, 5))
      client.end(PAYLOAD.slice(i))
      await once(client, 'close')
      expect(Buffer.concat(parts).toString(), `cut at ${i}`).toBe(PAYLOAD)
    }
  })
})

describe('a handle() that returns rfile.copyTo(wfile)', () => {
  it('resolves the copy for another awaiter too, then finish() runs', async () => {
    const events: string[] = []
    class Copy extends StreamRequestHandler {
      override handle() {
        const copy = this.rfile.copyTo(this.wfile)
        copy.then((n) => events.push(`copied ${n}`))
        return copy
      }
      override finish() {
        events.push('finish')
        super.finish()
      }
    }
    const s = await serve(Copy)
    running.push(s)
    const client = await connect(s.port)
    const parts: Buffer[] = []
    client.on('data', (d) => parts.push(d))
    client.end('hello')
    await once(client, 'close')
    expect(Buffer.concat(parts).toString()).toBe('hello')
    expect(events).toEqual(['copied 5', 'finish'])
  })

  it('a copy that fails reaches handleError, and its promise is not an unhandled rejection', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      class Copy extends StreamRequestHandler {
        override timeout = 50
        override handle() {
          return this.rfile.copyTo(this.wfile)
        }
      }
      const s = await serve(Copy)
      running.push(s)
      const client = await connect(s.port)
      client.resume()
      await until(() => s.errors.length > 0)
      expect(s.errors[0]).toBeInstanceOf(SocketTimeoutError)
      await new Promise((r) => setTimeout(r, 50))
      expect(unhandled).toEqual([])
      client.destroy()
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })
})
