// The echo server behind Debian's HAProxy (send-proxy-v2): the echo works through the balancer,
// and the server sees each client's own address (127.0.0.2), not HAProxy's.
import { once } from 'node:events'
import net from 'node:net'
import { freePort, type HAProxy, startHAProxy, waitFor } from '@socketserver/compliance-tests'
import { channels, type InetAddress, proxyInfo } from '@socketserver/core'
import { afterEach, describe, expect, it } from 'vitest'
import { startEchoServer } from '../src/server.js'
import { cleanup, startCli } from './helpers.js'

let haproxy: HAProxy | undefined

afterEach(async () => {
  await haproxy?.stop()
  haproxy = undefined
  cleanup()
})

/** HAProxy on a free port, forwarding to the echo server on `backend` with a v2 header. */
async function balancer(backend: number): Promise<number> {
  const port = await freePort()
  haproxy = await startHAProxy(
    `listen echo
  bind 127.0.0.1:${port}
  server s 127.0.0.1:${backend} send-proxy-v2
`,
    [port],
  )
  return port
}

/** Sends `text` from 127.0.0.2, half-closes, and resolves with all the server sent back before closing. */
async function echoFrom(port: number, text: string): Promise<{ reply: string; localPort: number }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' })
  socket.on('error', () => {})
  await once(socket, 'connect')
  const localPort = socket.localPort!
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.end(text)
  // once() would reject on 'error': a refused connection may be reset; what arrived is the answer.
  await new Promise((resolve) => socket.once('close', resolve))
  return { reply: Buffer.concat(chunks).toString(), localPort }
}

describe('echo server behind a real HAProxy (send-proxy-v2)', () => {
  it('echoes through HAProxy and sees the client at 127.0.0.2, HAProxy as the proxy', async () => {
    const echo = await startEchoServer({ port: 0, proxyProtocol: { trustedProxies: ['127.0.0.1'] } })
    const seen: { client: InetAddress; proxy: InetAddress | undefined }[] = []
    const onStart = (message: unknown) => {
      const { server, request, clientAddress } = message as {
        server: unknown
        request: object
        clientAddress: InetAddress
      }
      if (echo.servers.includes(server as never))
        seen.push({ client: clientAddress, proxy: proxyInfo<InetAddress>(request)?.proxyAddress })
    }
    channels.requestStart.subscribe(onStart)
    try {
      const port = await balancer((echo.listeners[0]!.address as InetAddress).port)
      const { reply, localPort } = await echoFrom(port, 'hello through haproxy\n')
      expect(reply).toBe('hello through haproxy\n')
      // startHAProxy's own probe of the frontend reaches the server too (from 127.0.0.1).
      const ours = seen.find(({ client }) => client.port === localPort)
      expect(ours?.client).toMatchObject({ address: '127.0.0.2', port: localPort })
      expect(ours?.proxy).toMatchObject({ address: '127.0.0.1' })
    } finally {
      channels.requestStart.unsubscribe(onStart)
      await echo.close()
    }
  })

  it('the CLI with --trusted-proxies: echoes through HAProxy, refuses a client that connects directly', async () => {
    const server = await startCli(['--port', '0', '--trusted-proxies', '127.0.0.1'])
    const port = await balancer(server.port)
    const { reply } = await echoFrom(port, 'via the balancer\n')
    expect(reply).toBe('via the balancer\n')
    // Straight to the server from 127.0.0.2: not a trusted proxy, so no header is read and nothing echoed.
    const direct = await echoFrom(server.port, 'no header\n')
    expect(direct.reply).toBe('')
    const refusal = `refused a connection from 127.0.0.2:${direct.localPort}`
    await waitFor(() => server.stderr().includes(refusal), { what: refusal })
    expect(server.stderr()).toMatch(/not in trustedProxies/)
    server.child.kill('SIGTERM')
    expect((await server.waitForExit()).code).toBe(0)
  })
})
