import { afterEach, describe, expect, it } from 'vitest'
import { CLI, cleanup, run, startCli, UdpClient } from './helpers.js'

afterEach(cleanup)

const cli = (args: string[]) => run(process.execPath, [CLI, ...args], { ms: 10_000 })
const FREE_PORTS = ['--time-port', '0', '--daytime-port', '0', '--sntp-port', '0']

describe('time-server CLI', () => {
  it('--help lists every option with its default and exits 0', async () => {
    const result = await cli(['--help'])
    expect(result.code).toBe(0)
    for (const option of [
      '--host',
      '--time-port',
      '--daytime-port',
      '--sntp-port',
      '--rate',
      '--burst',
      '--drain-timeout',
    ]) {
      expect(result.stdout).toContain(option)
    }
    for (const fallback of [
      'Default: 127.0.0.1',
      'Default: 10037',
      'Default: 10013',
      'Default: 10123',
      'Default: 5',
      'Default: 10',
    ]) {
      expect(result.stdout).toContain(fallback)
    }
  })

  it.each([
    [['--bogus'], /unknown option '--bogus'/i],
    [['--time-port', 'abc'], /--time-port must be an integer/],
    [['--sntp-port', '70000'], /--sntp-port must be an integer from 0 to 65535/],
    [['--rate', '0'], /--rate must be a positive number/],
    [['--burst', '0'], /--burst must be at least 1/],
    [['--host', ''], /--host must not be empty/],
    [['extra'], /unexpected argument 'extra'/i],
  ])('%j exits 2 with a one-line error and a usage hint', async (args, message) => {
    const result = await cli(args)
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    const lines = result.stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(message)
    expect(lines[1]).toContain('--help')
  })

  it('prints one listening line per service with the real ports, TCP and UDP sharing a port', async () => {
    const time = await startCli(FREE_PORTS)
    const p = time.ports
    expect(time.host).toBe('127.0.0.1')
    expect(time.stdout()).toBe(
      [
        `time-server: listening on tcp 127.0.0.1:${p['time/tcp']} (time, RFC 868)`,
        `time-server: listening on udp 127.0.0.1:${p['time/tcp']} (time, RFC 868)`,
        `time-server: listening on tcp 127.0.0.1:${p['daytime/tcp']} (daytime, RFC 867)`,
        `time-server: listening on udp 127.0.0.1:${p['daytime/tcp']} (daytime, RFC 867)`,
        `time-server: listening on udp 127.0.0.1:${p['sntp/udp']} (sntp, RFC 4330)`,
        '',
      ].join('\n'),
    )
    expect(p['time/tcp']).toBeGreaterThan(0)
    expect(time.stderr()).toBe('')
  })

  it('exits 1 with the reason when a port is taken', async () => {
    const first = await startCli(FREE_PORTS)
    const result = await cli([
      '--time-port',
      '0',
      '--daytime-port',
      '0',
      '--sntp-port',
      String(first.ports['sntp/udp']),
    ])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/EADDRINUSE/)
  })

  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s drains, prints a summary with the counters and exits 0',
    async (signal) => {
      const time = await startCli([...FREE_PORTS, '--burst', '2', '--rate', '0.001'])
      const client = await UdpClient.open()
      for (let i = 0; i < 3; i++) await client.send('', time.ports['time/udp']!)
      await client.next()
      await client.next()
      time.child.kill(signal)
      const exit = await time.waitForExit()
      expect(exit).toEqual({ code: 0, signal: null })
      expect(time.stdout()).toContain(`time-server: ${signal}: stopped accepting`)
      // The third datagram is over the burst: refused, or dropped with the queue if the signal came first.
      expect(time.stdout()).toMatch(
        /time-server: stopped: replies timeTcp 0, timeUdp 2, daytimeTcp 0, daytimeUdp 0, sntp 0; not answered: 0 from service ports, [01] over the rate limit, 0 malformed; 0 cut short\n$/,
      )
    },
  )
})
