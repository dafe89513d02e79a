import { once } from 'node:events'
import { SocketTimeoutError } from '@socketserver/core'
import { StreamRequestHandler } from '@socketserver/stream-handlers'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, exchange, serve } from './helpers.js'

let running: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  await Promise.all(running.map((s) => s.close()))
  running = []
})

/** Reads lines until end of stream and answers `ok`; records what its reads rejected with. */
function lineCounter(fields: { idleTimeout?: number | null; requestTimeout?: number | null }) {
  const caught: unknown[] = []
  class Handler extends StreamRequestHandler {
    override idleTimeout = fields.idleTimeout ?? null
    override requestTimeout = fields.requestTimeout ?? null
    override async handle() {
      try {
        while ((await this.rfile.read1()).length > 0) {}
        await this.wfile.write('ok\n')
      } catch (error) {
        caught.push(error)
      }
    }
  }
  return { Handler, caught }
}

describe('StreamRequestHandler deadlines', () => {
  it('idleTimeout closes a connection that sends nothing: the waiting read rejects (idle)', async () => {
    const { Handler, caught } = lineCounter({ idleTimeout: 100 })
    const s = await serve(Handler)
    running.push(s)
    const client = await connect(s.port)
    client.resume()
    await once(client, 'close')
    expect(caught).toHaveLength(1)
    expect(caught[0]).toBeInstanceOf(SocketTimeoutError)
    expect(caught[0]).toMatchObject({ code: 'SOCKSRV_TIMEOUT', operation: 'idle', ms: 100 })
  })

  it('idleTimeout is refreshed by traffic: a client that keeps sending is served', async () => {
    const { Handler, caught } = lineCounter({ idleTimeout: 1_000 })
    const s = await serve(Handler)
    running.push(s)
    const client = await connect(s.port)
    const reply: Buffer[] = []
    client.on('data', (chunk: Buffer) => reply.push(chunk))
    for (let i = 0; i < 8; i++) {
      client.write('x')
      await new Promise((r) => setTimeout(r, 200)) // 1.6 s in all, longer than idleTimeout
    }
    client.end()
    await once(client, 'close')
    expect(caught).toEqual([])
    expect(Buffer.concat(reply).toString()).toBe('ok\n')
  })

  it('requestTimeout ends a request that trickles bytes (never idle) once it has run that long', async () => {
    const { Handler, caught } = lineCounter({ idleTimeout: 1_000, requestTimeout: 300 })
    const s = await serve(Handler)
    running.push(s)
    const client = await connect(s.port)
    client.resume()
    const trickle = setInterval(() => client.writable && client.write('x'), 20)
    try {
      await once(client, 'close')
    } finally {
      clearInterval(trickle)
    }
    expect(caught).toHaveLength(1)
    expect(caught[0]).toMatchObject({ code: 'SOCKSRV_TIMEOUT', operation: 'request', ms: 300 })
  })

  it('a request that ends in time disarms its deadlines: nothing fires afterwards', async () => {
    const { Handler, caught } = lineCounter({ idleTimeout: 100, requestTimeout: 150 })
    const errors: unknown[] = []
    const s = await serve(Handler, errors)
    running.push(s)
    expect((await exchange(s.port, 'hello')).toString()).toBe('ok\n')
    await new Promise((r) => setTimeout(r, 300))
    expect(caught).toEqual([])
    expect(errors).toEqual([])
  })
})
