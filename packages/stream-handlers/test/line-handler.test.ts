import { once } from 'node:events'
import { InvalidArgumentError, LineTooLongError } from '@socketserver/core'
import { type Connection, LineHandler } from '@socketserver/stream-handlers'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, serve, until, viaNc } from './helpers.js'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

async function started(Handler: typeof LineHandler<any>, errors: unknown[] = []) {
  const served = await serve(Handler, errors)
  cleanups.push(() => served.close())
  return served
}

/** Answers each line with `<length>:<line>`, so that where a line was cut shows in the reply. */
class Lengths extends LineHandler {
  override line(conn: Connection, line: Buffer): void {
    conn.write(`${line.length}:${line.toString()}`)
  }
}

/** Sends `pieces` one by one, each after the server has had time to read the one before. */
async function trickle(port: number, pieces: string[]): Promise<string> {
  const client = await connect(port)
  client.setNoDelay(true)
  client.on('error', () => {}) // a write the server's close beat
  const closed = once(client, 'close') // the server may close first
  const reply: Buffer[] = []
  client.on('data', (d: Buffer) => reply.push(d))
  for (const piece of pieces) {
    if (client.writableEnded || client.destroyed) break
    client.write(piece)
    await new Promise((r) => setTimeout(r, 20))
  }
  client.end()
  await closed
  return Buffer.concat(reply).toString()
}

describe('LineHandler', () => {
  it('echoes lines to nc, which sends, half-closes, and still gets the reply', async () => {
    class Echo extends LineHandler {
      override line(conn: Connection, line: Buffer): void {
        conn.write(line)
      }
    }
    const { port } = await started(Echo)
    expect(await viaNc(port, 'one\ntwo\nthree\n')).toEqual({ code: 0, reply: 'one\ntwo\nthree\n' })
  })

  it('cuts lines wherever the chunks end: several per chunk, one across chunks, the last without a newline', async () => {
    const { port } = await started(Lengths)
    const reply = await trickle(port, ['a\nbb\ncc', 'c', 'c\nd', '\n', 'tail'])
    expect(reply).toBe('2:a\n3:bb\n5:cccc\n2:d\n4:tail')
  })

  it('a line longer than maxLineLength reaches handleError as LineTooLongError and closes the connection', async () => {
    class Short extends Lengths {
      override maxLineLength = 8
    }
    const errors: unknown[] = []
    const { port, server } = await started(Short, errors)
    // Within one chunk, and growing across chunks with no newline in sight: both refused.
    expect(await trickle(port, ['ok\n', 'much too long a line\n', 'never\n'])).toBe('3:ok\n')
    expect(await trickle(port, ['1234', '5678', '9abc', 'def\n'])).toBe('')
    await until(() => errors.length === 2 && server.activeRequestCount === 0)
    expect(errors.map((e) => (e as LineTooLongError).code)).toEqual([
      'SOCKSRV_LINE_TOO_LONG',
      'SOCKSRV_LINE_TOO_LONG',
    ])
    expect(errors[0]).toBeInstanceOf(LineTooLongError)
  })

  it('a line() that ends the connection gets no more lines, even from the same chunk', async () => {
    const seen: string[] = []
    class Quit extends LineHandler {
      override line(conn: Connection, line: Buffer): void {
        seen.push(line.toString())
        if (line.toString() === 'quit\n') {
          conn.write('bye\n')
          conn.end()
        }
      }
    }
    const { port } = await started(Quit)
    expect(await trickle(port, ['a\nquit\nb\nc\n'])).toBe('bye\n')
    expect(seen).toEqual(['a\n', 'quit\n'])
  })

  it('a bad maxLineLength is refused with a coded error at the first connection, which is closed', async () => {
    class Bad extends Lengths {
      override maxLineLength = 0
    }
    const errors: unknown[] = []
    const { port } = await started(Bad, errors)
    expect(await trickle(port, ['x\n'])).toBe('')
    await until(() => errors.length === 1)
    expect(errors[0]).toBeInstanceOf(InvalidArgumentError)
    expect((errors[0] as InvalidArgumentError).message).toMatch(/maxLineLength/)
  })
})
