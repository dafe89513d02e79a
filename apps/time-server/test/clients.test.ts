import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliProcess, cleanup, run, startCli } from './helpers.js'

// Clients no one here wrote: Debian's rdate (RFC 868 over TCP and UDP, SNTP), nc, socat, Python.
let ipv4: CliProcess
let ipv6: CliProcess
beforeAll(async () => {
  const ports = ['--time-port', '0', '--daytime-port', '0', '--sntp-port', '0']
  ipv4 = await startCli(ports)
  ipv6 = await startCli([...ports, '--host', '::1'])
})
afterAll(cleanup)

const CTIME = /^\w{3} \w{3} +\d{1,2} \d\d:\d\d:\d\d UTC \d{4}$/m
const DAYTIME = /^\w+day, \w+ \d{1,2}, \d{4} \d\d:\d\d:\d\d-UTC\r\n$/

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
]

/** The date in an RFC 867 line of ours (`Monday, February 22, 1982 17:37:43-UTC`), as a ctime-like string. */
function daytimeAsDate(line: string): string {
  const m = line.match(/^\w+, (\w+) (\d+), (\d{4}) (\d\d:\d\d:\d\d)-UTC/)
  expect(m, line).not.toBeNull()
  return new Date(
    `${m![3]}-${String(MONTHS.indexOf(m![1]!) + 1).padStart(2, '0')}-${m![2]!.padStart(2, '0')}T${m![4]}Z`,
  ).toString()
}

/** Seconds between `printed` (a date a client printed) and now. */
function secondsFromNow(printed: string): number {
  const ms = Date.parse(printed)
  expect(ms, `a date in ${JSON.stringify(printed)}`).not.toBeNaN()
  return Math.abs(ms - Date.now()) / 1000
}

/** Runs `rdate -p` (print, do not set) with `flags`; returns the date it printed. */
async function rdate(flags: string[], port: number, host: string): Promise<string> {
  const result = await run('rdate', [...flags, '-p', '-o', String(port), host], {
    env: { TZ: 'UTC' },
    ms: 15_000,
  })
  expect(result.stderr).toBe('')
  expect(result.code).toBe(0)
  const line = result.stdout.match(CTIME)
  expect(line, `rdate printed ${JSON.stringify(result.stdout)}`).not.toBeNull()
  return line![0]
}

describe.each([
  ['IPv4', () => ipv4, '127.0.0.1', []],
  ['IPv6', () => ipv6, '::1', ['-6']],
] as const)('rdate over %s', (_, server, host, family) => {
  it('RFC 868 over TCP (rdate -p) prints the current time', async () => {
    const printed = await rdate([...family], server().ports['time/tcp']!, host)
    expect(secondsFromNow(printed)).toBeLessThan(5)
  })

  it('RFC 868 over UDP (rdate -u -p) prints the current time', async () => {
    const printed = await rdate([...family, '-u'], server().ports['time/udp']!, host)
    expect(secondsFromNow(printed)).toBeLessThan(5)
  })

  it('SNTP (rdate -n -p) prints the current time', async () => {
    const printed = await rdate([...family, '-n'], server().ports['sntp/udp']!, host)
    expect(secondsFromNow(printed)).toBeLessThan(5)
  })

  it('SNTP over UDP (rdate -n -u -v) reports an offset under a second', async () => {
    const port = server().ports['sntp/udp']!
    const result = await run('rdate', [...family, '-n', '-u', '-v', '-p', '-o', String(port), host], {
      env: { TZ: 'UTC' },
      ms: 15_000,
    })
    expect(result.code).toBe(0)
    const offset = result.stdout.match(/adjust local clock by (-?\d+\.\d+) seconds/)
    expect(offset, result.stdout).not.toBeNull()
    expect(Math.abs(Number(offset![1]))).toBeLessThan(1)
  })
})

describe('daytime with nc and socat', () => {
  it('nc over TCP gets the date and the server closes', async () => {
    const result = await run('nc', ['127.0.0.1', String(ipv4.ports['daytime/tcp'])])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(DAYTIME)
    expect(secondsFromNow(daytimeAsDate(result.stdout))).toBeLessThan(5)
  })

  it('nc -u over UDP gets the date for its datagram', async () => {
    const result = await run('nc', ['-u', '-w', '1', '127.0.0.1', String(ipv4.ports['daytime/udp'])], {
      input: 'what time is it?\n',
    })
    expect(result.stdout).toMatch(DAYTIME)
  })

  it('socat over TCP and UDP, IPv4 and IPv6', async () => {
    for (const [address, server] of [
      ['127.0.0.1', ipv4],
      ['[::1]', ipv6],
    ] as const) {
      const tcp = await run('socat', ['-u', `TCP:${address}:${server.ports['daytime/tcp']}`, '-'])
      expect(tcp.stdout).toMatch(DAYTIME)
      const udp = await run('socat', ['-', `UDP:${address}:${server.ports['daytime/udp']}`], { input: '\n' })
      expect(udp.stdout).toMatch(DAYTIME)
    }
  })
})

describe('Python socket', () => {
  it('UDP time: 4 bytes, seconds since 1900 modulo 2^32, within a few seconds of Python’s clock', async () => {
    const script = `
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b'', ('127.0.0.1', int(sys.argv[1])))
data, addr = s.recvfrom(64)
ours = (int(time.time()) + 2208988800) % 2**32
print(len(data), abs(struct.unpack('!I', data)[0] - ours), addr[1])
`
    const port = ipv4.ports['time/udp']!
    const result = await run('python3', ['-c', script, String(port)])
    expect(result.stderr).toBe('')
    const [length, drift, from] = result.stdout.trim().split(' ').map(Number)
    expect(length).toBe(4)
    expect(drift).toBeLessThan(5)
    expect(from).toBe(port)
  })
})
