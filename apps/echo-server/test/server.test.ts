import type { InetAddress } from '@socketserver/core'
import { afterEach, describe, expect, it } from 'vitest'
import { type EchoServer, startEchoServer } from '../src/index.js'
import { Client, cleanup, tryConnect } from './helpers.js'

// In process, against the sources: startEchoServer() as the bench and other tests use it.
const started: EchoServer[] = []
afterEach(async () => {
  cleanup()
  await Promise.all(started.splice(0).map((echo) => echo.close()))
})

async function start(options: Parameters<typeof startEchoServer>[0]): Promise<EchoServer> {
  const echo = await startEchoServer(options)
  started.push(echo)
  return echo
}

describe('startEchoServer()', () => {
  it('listens on every address of the list (IPv4 and IPv6) and counts what it echoed', async () => {
    const echo = await start({
      listeners: [
        { transport: 'tcp', host: '127.0.0.1', port: 0 },
        { transport: 'tcp', host: '::1', port: 0 },
      ],
    })
    expect(echo.listeners.map((l) => (l.address as InetAddress).family)).toEqual(['IPv4', 'IPv6'])
    const [v4, v6] = echo.listeners
    expect(v4!.label).toBe(`tcp 127.0.0.1:${(v4!.address as InetAddress).port}`)
    expect(v6!.label).toBe(`tcp [::1]:${(v6!.address as InetAddress).port}`)

    const a = await Client.connect((v4!.address as InetAddress).port, '127.0.0.1')
    const b = await Client.connect((v6!.address as InetAddress).port, '::1')
    await a.exchange('over IPv4')
    await b.exchange('over IPv6')
    a.socket.end()
    b.socket.end()
    await a.until(() => a.closed, 'close')
    await b.until(() => b.closed, 'close')
    expect(echo.stats.connections).toBe(2)
    expect(echo.stats.bytes).toBe(Buffer.byteLength('over IPv4over IPv6'))
  })

  it('closes the listeners it opened when a later one cannot bind', async () => {
    const taken = await start({ port: 0 })
    const port = (taken.listeners[0]!.address as InetAddress).port
    const free = await start({ port: 0 })
    const freePort = (free.listeners[0]!.address as InetAddress).port
    await free.close()
    await expect(
      startEchoServer({
        listeners: [
          { transport: 'tcp', host: '127.0.0.1', port: freePort },
          { transport: 'tcp', host: '127.0.0.1', port },
        ],
      }),
    ).rejects.toMatchObject({ code: 'SOCKSRV_BIND_FAILED', errno: 'EADDRINUSE' })
    // The first listener of the failed start was closed again.
    expect(await tryConnect(freePort)).toBe('ECONNREFUSED')
  })

  it('close() stops at once, closing open connections', async () => {
    const echo = await start({ port: 0, idleTimeout: 0 })
    const port = (echo.listeners[0]!.address as InetAddress).port
    const client = await Client.connect(port)
    await client.exchange('hi')
    await echo.close()
    await client.until(() => client.closed, 'close')
    expect(await tryConnect(port)).toBe('ECONNREFUSED')
    expect(echo.openConnections).toBe(0)
  })
})
