import { WELL_KNOWN_SERVICE_PORTS } from '@socketserver/transport-udp'
import { afterEach, describe, expect, it } from 'vitest'
import {
  EPOCH_1900_OFFSET,
  type GuardedUDPServer,
  startTimeServer,
  type TimeServer,
  type TimeServerOptions,
} from '../src/index.js'
import { cleanup, readNtpTimestamp, sntpRequest, tcpReceiveAll, UdpClient, waitFor } from './helpers.js'

const running: TimeServer[] = []
afterEach(async () => {
  cleanup()
  await Promise.all(running.splice(0).map((s) => s.close()))
})

async function start(options: TimeServerOptions = {}): Promise<TimeServer> {
  const server = await startTimeServer({
    timePort: 0,
    daytimePort: 0,
    sntpPort: 0,
    pollInterval: 50,
    ...options,
  })
  running.push(server)
  return server
}

const WRAP_MS = (2 ** 32 - EPOCH_1900_OFFSET) * 1000

describe('startTimeServer', () => {
  it('listens on loopback by default, time and daytime on one port for TCP and UDP', async () => {
    const time = await start()
    expect(time.listeners.map((l) => `${l.service}/${l.transport}`)).toEqual([
      'time/tcp',
      'time/udp',
      'daytime/tcp',
      'daytime/udp',
      'sntp/udp',
    ])
    for (const { address } of time.listeners) expect(address.address).toBe('127.0.0.1')
    expect(time.address('time', 'udp').port).toBe(time.address('time', 'tcp').port)
    expect(time.address('daytime', 'udp').port).toBe(time.address('daytime', 'tcp').port)
    expect(time.address('sntp').port).toBeGreaterThan(0)
  })

  it.each([
    ['just before', WRAP_MS - 1000, 'ffffffff'],
    ['at', WRAP_MS, '00000000'],
    ['after', WRAP_MS + 3_600_000, '00000e10'],
  ])('RFC 868 over TCP and UDP is right %s the 2036 wrap (injected clock)', async (_, now, hex) => {
    const time = await start({ clock: () => now })
    expect((await tcpReceiveAll(time.address('time', 'tcp').port)).toString('hex')).toBe(hex)
    const client = await UdpClient.open()
    await client.send('', time.address('time', 'udp').port) // an empty datagram is a request too
    const reply = await client.next()
    expect(reply.data.toString('hex')).toBe(hex)
    expect(reply.from.port).toBe(time.address('time', 'udp').port)
  })

  it('RFC 867 daytime over TCP and UDP', async () => {
    const time = await start({ clock: () => Date.UTC(1982, 1, 22, 17, 37, 43) })
    const expected = 'Monday, February 22, 1982 17:37:43-UTC\r\n'
    expect((await tcpReceiveAll(time.address('daytime', 'tcp').port)).toString()).toBe(expected)
    const client = await UdpClient.open()
    await client.send('what time is it?', time.address('daytime', 'udp').port)
    expect((await client.next()).data.toString()).toBe(expected)
    expect(time.stats.replies).toMatchObject({ daytimeTcp: 1, daytimeUdp: 1 })
  })

  it('SNTP answers a client request with every RFC 4330 server field', async () => {
    let now = Date.UTC(2030, 5, 1, 12, 0, 0, 250)
    const time = await start({ clock: () => (now += 5) })
    const client = await UdpClient.open()
    const transmit = Buffer.from('c0ffee00deadbeef', 'hex')
    await client.send(sntpRequest({ version: 3, transmit }), time.address('sntp').port)
    const { data } = await client.next()
    expect(data.length).toBe(48)
    expect(data[0]! >> 6).toBe(0) // LI: no warning
    expect((data[0]! >> 3) & 7).toBe(3) // version echoed
    expect(data[0]! & 7).toBe(4) // server
    expect(data[1]).toBe(1) // stratum
    expect(data[2]).toBe(6) // poll echoed
    expect(data.subarray(12, 16).toString('latin1')).toBe('LOCL')
    expect(data.subarray(24, 32).equals(transmit)).toBe(true) // originate = our transmit
    const received = readNtpTimestamp(data, 32)
    const sent = readNtpTimestamp(data, 40)
    expect(Math.abs(received - Date.UTC(2030, 5, 1, 12, 0, 0, 255))).toBeLessThan(1)
    expect(Math.abs(sent - Date.UTC(2030, 5, 1, 12, 0, 0, 260))).toBeLessThan(1)
    expect(readNtpTimestamp(data, 16)).toBe(received) // reference
  })

  it('SNTP ignores short, server-mode and bad-version packets, and still answers the next good one', async () => {
    const time = await start()
    const client = await UdpClient.open()
    const port = time.address('sntp').port
    await client.send(Buffer.alloc(47), port)
    await client.send(sntpRequest({ mode: 4 }), port)
    await client.send(sntpRequest({ version: 7 }), port)
    await client.send('hello', port)
    await client.send(sntpRequest(), port)
    const reply = await client.next()
    expect(reply.data[0]! & 7).toBe(4)
    await waitFor(() => time.stats.dropped.malformed === 4, 'four malformed requests counted')
    expect(client.received).toHaveLength(1)
  })

  it('drops datagrams from well-known service ports (the list is configurable; the default is 7, 13, 19, 37, 123)', async () => {
    expect(WELL_KNOWN_SERVICE_PORTS).toEqual([7, 13, 19, 37, 123])
    const blocked = await UdpClient.open()
    const allowed = await UdpClient.open()
    // Tests may bind only port 0, so the client's own port stands in for a service port here.
    const time = await start({ blockedSourcePorts: [...WELL_KNOWN_SERVICE_PORTS, blocked.port] })
    for (const service of ['time', 'daytime', 'sntp'] as const) {
      await blocked.send(sntpRequest(), time.address(service, 'udp').port)
      await allowed.send(sntpRequest(), time.address(service, 'udp').port)
    }
    await Promise.all([allowed.next(), allowed.next(), allowed.next()])
    await waitFor(() => time.stats.dropped.sourcePort === 3, 'three datagrams dropped')
    expect(blocked.received).toHaveLength(0)
  })

  it('two servers aimed at each other do not loop: the service-port rule stops it at the first datagram', async () => {
    const a = await start({ rateLimit: false })
    const b = await start({ rateLimit: false })
    const aDaytime = a.listeners.find((l) => l.service === 'daytime' && l.transport === 'udp')!
    const bDaytime = b.listeners.find((l) => l.service === 'daytime' && l.transport === 'udp')!
    // As if both ran daytime on port 13: each treats the other's daytime port as a service port.
    ;(aDaytime.server as GuardedUDPServer).guard.blockedSourcePorts = new Set([bDaytime.address.port])
    ;(bDaytime.server as GuardedUDPServer).guard.blockedSourcePorts = new Set([aDaytime.address.port])
    // A datagram to A that appears to come from B's daytime service (what a spoofer would send).
    ;(bDaytime.server as GuardedUDPServer).socket!.send('x', aDaytime.address.port, '127.0.0.1')
    await waitFor(() => a.stats.dropped.sourcePort === 1, 'A refusing it')
    expect(a.stats.replies.daytimeUdp).toBe(0)
    expect(b.stats.replies.daytimeUdp + b.stats.dropped.sourcePort).toBe(0)
  })

  it('without the service-port rule, the per-source rate limit still ends such a loop after the burst', async () => {
    const rateLimit = { rate: 0.001, burst: 5 } // refills one token per 1000 s: none during the test
    const a = await start({ rateLimit, blockedSourcePorts: [] })
    const b = await start({ rateLimit, blockedSourcePorts: [] })
    const aDaytime = a.listeners.find((l) => l.service === 'daytime' && l.transport === 'udp')!
    const bDaytime = b.listeners.find((l) => l.service === 'daytime' && l.transport === 'udp')!
    ;(bDaytime.server as GuardedUDPServer).socket!.send('x', aDaytime.address.port, '127.0.0.1')
    await waitFor(() => a.stats.dropped.rateLimited === 1, 'the loop hitting the limit')
    expect(a.stats.replies.daytimeUdp).toBe(5)
    expect(b.stats.replies.daytimeUdp).toBe(5)
    expect(b.stats.dropped.rateLimited).toBe(0)
  })

  it('rate-limits each source address: a burst, then nothing until tokens refill', async () => {
    const time = await start({ rateLimit: { rate: 0.001, burst: 3 } })
    const client = await UdpClient.open()
    for (let i = 0; i < 6; i++) await client.send('', time.address('time', 'udp').port)
    await waitFor(() => time.stats.dropped.rateLimited === 3, 'three datagrams over the limit')
    expect(time.stats.replies.timeUdp).toBe(3)
    // The bucket is per source address and shared by the UDP services.
    await client.send(sntpRequest(), time.address('sntp').port)
    await waitFor(() => time.stats.dropped.rateLimited === 4, 'the SNTP request refused too')
    expect(client.received).toHaveLength(3)
  })

  it('over IPv6 too', async () => {
    const time = await start({ host: '::1', clock: () => WRAP_MS })
    expect(time.address('sntp').family).toBe('IPv6')
    const client = await UdpClient.open('::1')
    await client.send('', time.address('time', 'udp').port)
    expect((await client.next()).data.toString('hex')).toBe('00000000')
    expect((await tcpReceiveAll(time.address('time', 'tcp').port, '::1')).toString('hex')).toBe('00000000')
  })

  it('a taken port rejects and leaves nothing listening', async () => {
    const first = await start()
    const error = await startTimeServer({
      timePort: 0,
      daytimePort: 0,
      sntpPort: first.address('sntp').port,
    }).catch((e: unknown) => e)
    expect((error as { errno?: string }).errno).toBe('EADDRINUSE')
  })
})
