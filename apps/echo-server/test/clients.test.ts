import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { Client, cleanup, run, startCli } from './helpers.js'

// Real clients that nobody on this project wrote: OpenBSD netcat, socat, CPython's socket module.
const script = (name: string) => fileURLToPath(new URL(`./clients/${name}`, import.meta.url))

afterEach(cleanup)

describe('echo-server CLI with real clients', () => {
  it('echoes bytes to nc (netcat-openbsd)', async () => {
    const echo = await startCli(['--port', '0'])
    const input = Buffer.concat([Buffer.from('hello from nc\n'), randomBytes(64 * 1024)])
    // -N: shut down the write side on stdin EOF, then print what comes back until the server closes.
    const result = await run('nc', ['-N', echo.host, String(echo.port)], { input })
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout.equals(input)).toBe(true)
  })

  it('listens on IPv6 loopback with --host ::1', async () => {
    const echo = await startCli(['--port', '0', '--host', '::1'])
    expect(echo.stdout()).toContain(`listening on tcp [::1]:${echo.port} `)
    const input = Buffer.from('over IPv6\n')
    const result = await run('nc', ['-N', '::1', String(echo.port)], { input })
    expect(result.code).toBe(0)
    expect(result.stdout.toString()).toBe(input.toString())
  })

  it('echoes bytes to socat', async () => {
    const echo = await startCli(['--port', '0'])
    const input = Buffer.from('socat says hi\n\x00\xff binary too\n', 'latin1')
    // -t: after stdin EOF, wait up to 10 s for the rest of the echo (default 0.5 s); the server's FIN ends it sooner.
    const result = await run('socat', ['-t', '10', '-', `TCP:${echo.host}:${echo.port}`], { input })
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout.equals(input)).toBe(true)
  })

  it('echoes each message as it arrives to a Python socket client, then closes on EOF', async () => {
    const echo = await startCli(['--port', '0'])
    const result = await run('python3', [script('interactive.py'), echo.host, String(echo.port)])
    expect(result.stderr).toBe('')
    const report = JSON.parse(result.stdout.toString())
    expect(report.echoes).toEqual(report.sent)
    expect(report.after_eof).toBe('') // nothing more, and the server closed its side
  })

  it('round-trips 10 MB of random bytes on one Python connection', async () => {
    const echo = await startCli(['--port', '0'])
    const size = 10 * 1024 * 1024
    const result = await run('python3', [script('bulk.py'), echo.host, String(echo.port), String(size)], {
      ms: 40_000,
    })
    expect(result.stderr).toBe('')
    const report = JSON.parse(result.stdout.toString())
    expect(report.send_error).toEqual([])
    expect(report.sent).toBe(size)
    expect(report.received).toBe(size)
    expect(report.received_sha256).toBe(report.sent_sha256)
  }, 60_000)

  it('serves 1000 connections open at once, each getting its own message back', async () => {
    const echo = await startCli(['--port', '0'])
    const n = 1000
    const result = await run('python3', [script('many.py'), echo.host, String(echo.port), String(n), '30'], {
      ms: 45_000,
    })
    expect(result.stderr).toBe('')
    const report = JSON.parse(result.stdout.toString())
    const detail = `client: ${result.stdout}\nserver stderr: ${echo.stderr()}`
    expect(report.errors, detail).toEqual([])
    expect(report.timed_out, detail).toBe(false)
    expect(report.distinct_messages).toBe(n)
    expect(report.echoed_while_all_open).toBe(n)
    expect(report.correct).toBe(n)
  }, 60_000)

  it('--mode sequential echoes, serving one client at a time', async () => {
    const echo = await startCli(['--port', '0', '--mode', 'sequential'])
    expect(echo.mode).toBe('sequential')
    const a = await Client.connect(echo.port)
    await a.exchange('a1')
    const b = await Client.connect(echo.port) // the kernel accepts it; the server does not serve it yet
    b.socket.write('b1')
    // A grace period, not a speed check: a concurrent server would have echoed b1 by now.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(b.received.toString()).toBe('')
    await a.exchange('a2')
    a.socket.end()
    await a.until(() => a.ended, 'FIN after a half-closed')
    await b.until(() => b.received.length >= 2, 'echo of b1 once a is done')
    expect(b.received.toString()).toBe('b1')
    b.socket.end()
    await b.until(() => b.ended, 'FIN after b half-closed')
    expect(a.received.toString()).toBe('a1a2')
  })

  it('--mode event-loop (the default) serves a second client while the first is still open', async () => {
    const echo = await startCli(['--port', '0'])
    expect(echo.mode).toBe('event-loop')
    const a = await Client.connect(echo.port)
    await a.exchange('a1')
    const b = await Client.connect(echo.port)
    await b.exchange('b1')
    expect(a.ended).toBe(false)
    await a.exchange('a2')
  })

  it('closes a connection that sends nothing for --idle-timeout ms, and keeps serving', async () => {
    const echo = await startCli(['--port', '0', '--idle-timeout', '300'])
    const idle = await Client.connect(echo.port)
    await idle.exchange('then silence')
    await idle.until(() => idle.ended, 'FIN from the server for an idle connection')
    expect(idle.received.toString()).toBe('then silence')
    const next = await Client.connect(echo.port)
    await next.exchange('still here')
  })
})
