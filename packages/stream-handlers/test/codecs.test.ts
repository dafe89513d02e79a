import { FrameTooLargeError, LineTooLongError } from '@socketserver/core'
import {
  encodeLengthPrefixed,
  LengthPrefixedDecoder,
  LineDecoder,
  readFrames,
  StreamRequestHandler,
} from '@socketserver/stream-handlers'
import { afterEach, describe, expect, it } from 'vitest'
import { exchange, serve } from './helpers.js'

describe('LineDecoder', () => {
  it('splits lines across chunk boundaries and strips \\n and \\r\\n', () => {
    const decoder = new LineDecoder()
    const out = [
      ...decoder.push(Buffer.from('al')),
      ...decoder.push(Buffer.from('pha\r\nbe')),
      ...decoder.push(Buffer.from('ta\ngam')),
    ]
    expect(out.map(String)).toEqual(['alpha', 'beta'])
    expect(decoder.pending).toBe(3)
  })

  it('keeps the delimiter when asked', () => {
    expect(new LineDecoder({ stripDelimiter: false }).push(Buffer.from('a\nb\n')).map(String)).toEqual([
      'a\n',
      'b\n',
    ])
  })

  it('throws LineTooLongError as soon as a line exceeds maxLength, without holding more', () => {
    const decoder = new LineDecoder({ maxLength: 8 })
    decoder.push(Buffer.from('12345'))
    expect(() => decoder.push(Buffer.from('6789'))).toThrow(LineTooLongError)
    expect(decoder.pending).toBe(0)
    expect(decoder.push(Buffer.from('ok\n')).map(String)).toEqual(['ok'])
    expect(() => new LineDecoder({ maxLength: 3 }).push(Buffer.from('abcd\n'))).toThrow(LineTooLongError)
    expect(new LineDecoder({ maxLength: 3 }).push(Buffer.from('abc\n')).map(String)).toEqual(['abc'])
  })
})

describe('LengthPrefixedDecoder', () => {
  it('round-trips frames split at every byte boundary', () => {
    const payloads = ['', 'a', 'hello world', 'x'.repeat(70_000)]
    const wire = Buffer.concat(payloads.map((p) => encodeLengthPrefixed(p)))
    for (const step of [1, 3, 4096, wire.length]) {
      const decoder = new LengthPrefixedDecoder()
      const frames: Buffer[] = []
      for (let i = 0; i < wire.length; i += step) frames.push(...decoder.push(wire.subarray(i, i + step)))
      expect(frames.map(String)).toEqual(payloads)
      expect(decoder.pending).toBe(0)
    }
  })

  it('rejects a header claiming 4 GB at once, before buffering any body', () => {
    const decoder = new LengthPrefixedDecoder({ maxFrameSize: 1024 })
    const header = Buffer.from([0xff, 0xff, 0xff, 0xff])
    let error: unknown
    try {
      decoder.push(header)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(FrameTooLargeError)
    expect((error as FrameTooLargeError).declared).toBe(2 ** 32 - 1)
    expect((error as FrameTooLargeError).code).toBe('SOCKSRV_FRAME_TOO_LARGE')
  })

  it('supports 1- and 2-byte headers and refuses payloads that do not fit', () => {
    const d1 = new LengthPrefixedDecoder({ lengthFieldLength: 1 })
    expect(d1.push(encodeLengthPrefixed('hi', { lengthFieldLength: 1 })).map(String)).toEqual(['hi'])
    const d2 = new LengthPrefixedDecoder({ lengthFieldLength: 2 })
    expect(d2.push(encodeLengthPrefixed('x'.repeat(300), { lengthFieldLength: 2 }))[0]!.length).toBe(300)
    expect(() => encodeLengthPrefixed('x'.repeat(256), { lengthFieldLength: 1 })).toThrow(/does not fit/)
  })
})

describe('readFrames over a real connection', () => {
  let close: (() => Promise<void>) | undefined
  afterEach(async () => {
    await close?.()
    close = undefined
  })

  it('decodes length-prefixed frames from rfile and closes with a typed error on an oversized one', async () => {
    const seen: string[] = []
    const errors: unknown[] = []
    class Frames extends StreamRequestHandler {
      override async handle() {
        for await (const frame of readFrames(this.rfile, new LengthPrefixedDecoder({ maxFrameSize: 100 }))) {
          seen.push(frame.toString())
          await this.wfile.write(encodeLengthPrefixed(frame.toString().toUpperCase()))
        }
      }
    }
    const s = await serve(Frames, errors)
    close = s.close
    const reply = await exchange(
      s.port,
      Buffer.concat([encodeLengthPrefixed('ab'), encodeLengthPrefixed('cd')]),
    )
    expect(new LengthPrefixedDecoder().push(reply).map(String)).toEqual(['AB', 'CD'])
    await exchange(s.port, Buffer.concat([encodeLengthPrefixed('ok'), Buffer.from([0xff, 0xff, 0xff, 0xff])]))
    expect(seen).toEqual(['ab', 'cd', 'ok'])
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(FrameTooLargeError)
  })
})
