import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { InetAddress } from '@socketserver/core'
import type { UDPServer } from '@socketserver/transport-udp'
import { afterEach, describe, expect, it } from 'vitest'
import { startEchoServer } from '../src/index.js'
import { cleanup, run, startCli } from './helpers.js'

// UDP and Unix listeners beside TCP in one process, driven by clients no one here wrote:
// CPython's socket module (bound to its own path for Unix datagrams, as CPython's own test does) and socat.

let dir: string | undefined
const running: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  cleanup()
  await Promise.all(running.splice(0).map((s) => s.close()))
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

const python = (code: string, args: string[]) =>
  run('python3', ['-c', code, ...args], { input: Buffer.alloc(0) })

const UDP_CLIENT = `
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for message in sys.argv[3:]:
    s.sendto(message.encode(), (host, port))
    data, sender = s.recvfrom(65535)
    print(data.decode(), sender[1] == port)
`

const UNIX_DGRAM_CLIENT = `
import os, socket, sys
server, me = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(me)
s.settimeout(5)
s.sendto(b'over a unix datagram', server)
data, sender = s.recvfrom(65535)
print(data.decode(), sender == server)
`

describe('one echo process listening on TCP, UDP, Unix stream and Unix datagram', () => {
  it('echoes over each of them to real clients', async () => {
    dir = mkdtempSync(join(tmpdir(), 'echo-'))
    const streamPath = join(dir, 'echo.sock')
    const dgramPath = join(dir, 'echo-dgram.sock')
    const echo = await startCli([
      '--listen',
      'tcp:127.0.0.1:0',
      '--listen',
      'udp:127.0.0.1:0',
      '--listen',
      `unix:${streamPath}`,
      '--listen',
      `unix-dgram:${dgramPath}`,
    ])
    const udp = await echo.waitForOutput(/listening on udp 127\.0\.0\.1:(\d+) /)
    await echo.waitForOutput(/listening on unix-dgram /)
    expect(echo.stdout()).toContain(`listening on unix ${JSON.stringify(streamPath)}`)

    const overUdp = await python(UDP_CLIENT, ['127.0.0.1', udp[1]!, 'one', 'two'])
    expect(overUdp.stdout.toString()).toBe('one True\ntwo True\n') // replies come from the server's port

    const overUnix = await run('socat', ['-', `UNIX-CONNECT:${streamPath}`], {
      input: Buffer.from('over a unix stream\n'),
    })
    expect(overUnix.stdout.toString()).toBe('over a unix stream\n')

    const overUnixDgram = await python(UNIX_DGRAM_CLIENT, [dgramPath, join(dir, 'client.sock')])
    expect(overUnixDgram.stdout.toString()).toBe('over a unix datagram True\n')

    const tcp = await run('nc', ['-N', '127.0.0.1', String(echo.port)], { input: Buffer.from('and tcp\n') })
    expect(tcp.stdout.toString()).toBe('and tcp\n')
  })

  it('refuses a bad --listen with a one-line error and exit 2', async () => {
    for (const bad of ['tcp:127.0.0.1', 'sctp:127.0.0.1:7', 'unix:', 'udp:[::1:7']) {
      const result = await run(process.execPath, [
        new URL('../dist/cli.js', import.meta.url).pathname,
        '--listen',
        bad,
      ])
      expect(result.code).toBe(2)
      expect(result.stderr.split('\n')[0]).toMatch(/--listen/)
    }
  })
})

describe('UDP echo cannot be used for reflection', () => {
  it('never answers a datagram from a well-known service port', async () => {
    const echo = await startEchoServer({ listeners: [{ transport: 'udp', host: '127.0.0.1', port: 0 }] })
    running.push(echo)
    const port = (echo.listeners[0]!.address as InetAddress).port
    // Bind the client to port 7 (echo) itself: the server must stay silent. Needs root for port 7.
    const result = await python(
      `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.bind(('127.0.0.1', 7))
except PermissionError:
    print('skip'); sys.exit(0)
s.settimeout(0.5)
s.sendto(b'loop?', ('127.0.0.1', int(sys.argv[1])))
try:
    s.recvfrom(100); print('answered')
except socket.timeout:
    print('silent')
`,
      [String(port)],
    )
    const outcome = result.stdout.toString().trim()
    if (outcome === 'skip') return // not root: cannot bind port 7 here
    expect(outcome).toBe('silent')
    expect(echo.udpGuard.dropped.sourcePort).toBe(1)
  })

  it('two echo servers aimed at each other stop after the rate limit', async () => {
    const a = await startEchoServer({
      listeners: [{ transport: 'udp', host: '127.0.0.1', port: 0 }],
      udpRateLimit: { rate: 1, burst: 5 },
    })
    const b = await startEchoServer({
      listeners: [{ transport: 'udp', host: '127.0.0.1', port: 0 }],
      udpRateLimit: { rate: 1, burst: 5 },
    })
    running.push(a, b)
    const aServer = a.listeners[0]!.server as UDPServer
    const bPort = (b.listeners[0]!.address as InetAddress).port
    // A spoofed datagram "from A" to B: B echoes to A, A to B, ... until a bucket runs dry.
    aServer.socket!.send('ping', bPort, '127.0.0.1')
    await new Promise((resolve) => setTimeout(resolve, 500))
    const echoed = a.stats.datagrams + b.stats.datagrams
    expect(a.udpGuard.dropped.rateLimited + b.udpGuard.dropped.rateLimited).toBe(1)
    expect(echoed).toBeLessThanOrEqual(11) // one burst each (5 + 5), plus at most a refill
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(a.stats.datagrams + b.stats.datagrams).toBe(echoed) // and it stays stopped
  })
})
