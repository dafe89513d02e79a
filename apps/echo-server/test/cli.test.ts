import { afterEach, describe, expect, it } from 'vitest'
import { CLI, cleanup, run, startCli } from './helpers.js'

afterEach(cleanup)

const cli = (args: string[]) => run(process.execPath, [CLI, ...args], { ms: 10_000 })

describe('echo-server CLI arguments', () => {
  it('--help lists every option with its default and exits 0', async () => {
    const result = await cli(['--help'])
    expect(result.code).toBe(0)
    const help = result.stdout.toString()
    for (const option of [
      '--host',
      '--port',
      '--mode',
      '--idle-timeout',
      '--drain-timeout',
      '--proxy-protocol',
      '--trusted-proxies',
      '--help',
    ]) {
      expect(help).toContain(option)
    }
    for (const fallback of [
      'Default: 127.0.0.1',
      'Default: 7007',
      'Default: event-loop',
      'Default: 300000',
      'Default: 10000',
    ]) {
      expect(help).toContain(fallback)
    }
    expect(help).toContain('sequential')
  })

  it.each([
    [['--bogus'], /unknown option '--bogus'/i],
    [['--port', 'abc'], /--port must be an integer/],
    [['--port', '70000'], /--port must be an integer from 0 to 65535/],
    [['--port'], /--port/],
    [['--mode', 'threads'], /--mode must be one of event-loop, sequential, thread, fork/],
    [['--idle-timeout', '-5'], /--idle-timeout/],
    [['--drain-timeout', '1.5'], /--drain-timeout must be an integer/],
    [['extra'], /unexpected argument 'extra'/i],
  ])('%j exits 2 with a one-line error and a usage hint', async (args, message) => {
    const result = await cli(args)
    expect(result.code, result.stderr).toBe(2)
    expect(result.stdout.toString()).toBe('')
    const lines = result.stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(message)
    expect(lines[1]).toContain('--help')
  })

  it('exits 1 with the reason when the port is taken', async () => {
    const first = await startCli(['--port', '0'])
    const result = await cli(['--port', String(first.port)])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/EADDRINUSE/)
  })

  it('prints the real port when asked for port 0', async () => {
    const echo = await startCli(['--port', '0', '--host', '127.0.0.1'])
    expect(echo.host).toBe('127.0.0.1')
    expect(echo.port).toBeGreaterThan(0)
    expect(echo.stdout()).toBe(`echo: listening on tcp 127.0.0.1:${echo.port} (mode event-loop)\n`)
  })
})
