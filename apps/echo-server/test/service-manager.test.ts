/**
 * Running under a service manager: systemd's own `systemd-socket-activate` starting the echo CLI on
 * the socket it opened (TCP, UDP, a Unix path; every concurrency mode), a descriptor of the wrong
 * kind, readiness and watchdog messages read by a NOTIFY_SOCKET listener in Python, and SIGHUP
 * handing the listeners to a new process.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '@socketserver/compliance-tests'
import { afterEach, describe, expect, it } from 'vitest'
import { CLI, run } from './helpers.js'

const ADOPT = fileURLToPath(new URL('./fixtures/adopt.mjs', import.meta.url))
const BUSY = fileURLToPath(new URL('./fixtures/busy.mjs', import.meta.url))

interface Started {
  child: ChildProcess
  out(): string
  err(): string
  waitFor(pattern: RegExp, ms?: number, stream?: 'out' | 'err'): Promise<RegExpMatchArray>
  exited: Promise<number | null>
}

const groups = new Set<number>()
const dirs: string[] = []

afterEach(() => {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL') // the whole group: a restart's new process is in it too
    } catch {
      // gone
    }
  }
  groups.clear()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'echo-sd-'))
  dirs.push(dir)
  return dir
}

/** Starts `command` in a process group of its own, collecting its output. */
function start(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Started {
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  groups.add(child.pid!)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  // 'exit', not 'close': a restart's new process keeps the pipes open after this one is gone.
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const waitFor = async (pattern: RegExp, ms = 10_000, stream: 'out' | 'err' = 'out') => {
    const deadline = Date.now() + ms
    for (;;) {
      const match = (stream === 'out' ? out : err).match(pattern)
      if (match) return match
      if (Date.now() > deadline)
        throw new Error(`no ${pattern} within ${ms} ms\nstdout: ${out}\nstderr: ${err}`)
      await sleep(20)
    }
  }
  return { child, out: () => out, err: () => err, waitFor, exited }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** `systemd-socket-activate ARGS -- node CLI CLI_ARGS`; resolves once it listens (it starts the program at the first client). */
async function activate(activateArgs: string[], cliArgs: string[], env: NodeJS.ProcessEnv = {}) {
  const started = start('systemd-socket-activate', [...activateArgs, process.execPath, CLI, ...cliArgs], env)
  await started.waitFor(/Listening on .* as 3\./, 10_000, 'err')
  return started
}

describe('socket activation by systemd-socket-activate', () => {
  describe.each(['event-loop', 'thread', 'fork'])('--mode %s', (mode) => {
    it('TCP, named with --fdname: nc is answered by the echo server started on the socket', async () => {
      const port = await freePort()
      const sd = await activate(['-l', `127.0.0.1:${port}`, '--fdname=echo'], ['--mode', mode])
      const reply = await run('nc', ['-q', '1', '127.0.0.1', String(port)], { input: 'hello over tcp\n' })
      expect(reply.stdout.toString()).toBe('hello over tcp\n')
      expect(sd.out()).toContain(
        `echo: listening on tcp 127.0.0.1:${port} (passed socket 'echo') (mode ${mode})`,
      )
      sd.child.kill('SIGTERM')
      expect(await sd.exited).toBe(0)
    })

    it('UDP (--datagram): nc -u is answered', async () => {
      const port = await freePort()
      const sd = await activate(
        ['--datagram', '-l', `127.0.0.1:${port}`, '--fdname=echo-udp'],
        ['--mode', mode],
      )
      // The first datagram starts the server; on a loaded machine that can outlast nc's wait, so
      // the answer checked is to a datagram sent once it listens.
      await run('nc', ['-u', '-w', '1', '127.0.0.1', String(port)], { input: 'wake up\n' })
      await sd.waitFor(
        new RegExp(`echo: listening on udp 127\\.0\\.0\\.1:${port} \\(passed socket 'echo-udp'\\)`),
      )
      const reply = await run('nc', ['-u', '-w', '2', '127.0.0.1', String(port)], {
        input: 'hello over udp\n',
      })
      expect(reply.stdout.toString()).toBe('hello over udp\n')
      sd.child.kill('SIGTERM')
      expect(await sd.exited).toBe(0)
    })

    it('a Unix stream path: nc -U is answered; --listen is ignored with a notice', async () => {
      const path = join(tempDir(), 'echo.sock')
      const sd = await activate(
        ['-l', path, '--fdname=echo-unix'],
        ['--mode', mode, '--listen', 'tcp:127.0.0.1:1'],
      )
      const reply = await run('nc', ['-U', '-q', '1', path], { input: 'hello over unix\n' })
      expect(reply.stdout.toString()).toBe('hello over unix\n')
      expect(sd.out()).toContain(
        `echo: listening on unix ${JSON.stringify(path)} (passed socket 'echo-unix')`,
      )
      expect(sd.err()).toContain('serving on the 1 socket(s) passed by systemd; ignoring --listen')
      sd.child.kill('SIGTERM')
      expect(await sd.exited).toBe(0)
    })
  })

  const adopt = async (activateArgs: string[], serverClass: string, name: string) => {
    const sd = start('systemd-socket-activate', [
      ...activateArgs,
      `--fdname=${name}`,
      process.execPath,
      ADOPT,
      serverClass,
      name,
    ])
    await sd.waitFor(/Listening on .* as 3\./, 10_000, 'err')
    return sd
  }

  it('a TCP server given a UDP descriptor fails with the typed error; the variables are gone for children', async () => {
    const port = await freePort()
    const sd = await adopt(['--datagram', '-l', `127.0.0.1:${port}`], 'tcp', 'web')
    await run('nc', ['-u', '-w', '1', '127.0.0.1', String(port)], { input: 'wake up\n' })
    const line = JSON.parse((await sd.waitFor(/^\{.*\}$/m))[0])
    expect(line.code).toBe('SOCKSRV_INHERITED_SOCKET_MISMATCH')
    expect(line.message).toBe(
      'descriptor 3 is a datagram socket (IPv4); this server needs a listening stream socket (IPv4 or IPv6)',
    )
    expect(line.passed).toEqual([{ fd: 3, name: 'web', origin: 'systemd' }])
    expect(line.childEnv).toBe('unset unset unset')
  })

  it('a UDP server given a listening TCP socket, and a Unix datagram server (cannot adopt), fail with typed errors', async () => {
    const port = await freePort()
    const tcp = await adopt(['-l', `127.0.0.1:${port}`], 'udp', 'web')
    const client = net.connect(port, '127.0.0.1').on('error', () => {})
    const line = JSON.parse((await tcp.waitFor(/^\{.*\}$/m))[0])
    client.destroy()
    expect(line.code).toBe('SOCKSRV_INHERITED_SOCKET_MISMATCH')
    expect(line.message).toContain('is a listening stream socket (IPv4); this server needs a datagram socket')

    const path = join(tempDir(), 'dgram.sock')
    const dgram = await adopt(['--datagram', '-l', path], 'unix-dgram', 'logs')
    await run('python3', [
      '-c',
      `import socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'x', ${JSON.stringify(path)})`,
    ])
    const unsupported = JSON.parse((await dgram.waitFor(/^\{.*\}$/m))[0])
    expect(unsupported.code).toBe('SOCKSRV_INHERITED_SOCKET_UNSUPPORTED')
  })

  it('a name nobody passed fails with SOCKSRV_INHERITED_SOCKET', async () => {
    const port = await freePort()
    const sd = start('systemd-socket-activate', [
      '-l',
      `127.0.0.1:${port}`,
      '--fdname=other',
      process.execPath,
      ADOPT,
      'tcp',
      'web',
    ])
    await sd.waitFor(/Listening on .* as 3\./, 10_000, 'err')
    const client = net.connect(port, '127.0.0.1').on('error', () => {})
    const line = JSON.parse((await sd.waitFor(/^\{.*\}$/m))[0])
    client.destroy()
    expect(line.code).toBe('SOCKSRV_INHERITED_SOCKET')
    expect(line.message).toBe("no socket named 'web' was passed to this process; passed: other")
  })
})

/** A NOTIFY_SOCKET listener: Python binds a Unix datagram socket and prints each message as a JSON line, with its arrival time. */
async function notifyListener() {
  const path = join(tempDir(), 'notify.sock')
  const listener = start('python3', [
    '-u',
    '-c',
    `import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('bound', flush=True)
while True:
    data = s.recv(4096)
    print(json.dumps({'t': time.monotonic(), 'm': data.decode()}), flush=True)`,
    path,
  ])
  await listener.waitFor(/^bound$/m)
  const messages = () =>
    listener
      .out()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { t: number; m: string })
  return { path, messages }
}

const WATCHDOG_USEC = '2000000' // a ping expected every second

describe('sd_notify', () => {
  it('READY=1 once listening, STATUS=, WATCHDOG=1 every half period, STOPPING=1 on the drain, in order', async () => {
    const notify = await notifyListener()
    const echo = start(process.execPath, [CLI, '--port', '0'], { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC })
    await echo.waitFor(/listening on tcp/)
    await sleep(3_300)
    echo.child.kill('SIGTERM')
    expect(await echo.exited).toBe(0)
    await sleep(100)
    const messages = notify.messages().map((m) => m.m)
    expect(messages[0]).toBe('READY=1\nSTATUS=listening on 1 socket(s)')
    const pings = messages.filter((m) => m === 'WATCHDOG=1')
    expect(pings.length).toBeGreaterThanOrEqual(2)
    expect(pings.length).toBeLessThanOrEqual(4)
    expect(messages.at(-1)).toBe('STOPPING=1\nSTATUS=draining after SIGTERM')
    expect(messages.indexOf('WATCHDOG=1')).toBeGreaterThan(0)
  })

  it('the watchdog stops while the serve loop is stuck (a sequential server on one request), though timers still run', async () => {
    const notify = await notifyListener()
    const echo = start(process.execPath, [CLI, '--port', '0', '--mode', 'sequential'], {
      NOTIFY_SOCKET: notify.path,
      WATCHDOG_USEC,
    })
    const [, port] = await echo.waitFor(/listening on tcp 127\.0\.0\.1:(\d+)/)
    await sleep(1_300)
    const beforeStuck = notify.messages().filter((m) => m.m === 'WATCHDOG=1').length
    // The sequential loop now waits on this connection, which sends nothing: the loop is stuck.
    const client = net.connect(Number(port), '127.0.0.1').on('error', () => {})
    await new Promise((resolve) => client.once('connect', resolve))
    await sleep(300) // a tick already due may still see the last turn
    const stuckAt = notify.messages().length
    await sleep(3_000)
    const duringStuck = notify
      .messages()
      .slice(stuckAt)
      .map((m) => m.m)
    client.end()
    await sleep(2_000)
    const afterStuck = notify.messages().filter((m) => m.m === 'WATCHDOG=1').length
    echo.child.kill('SIGTERM')
    await echo.exited
    expect(beforeStuck).toBeGreaterThanOrEqual(1)
    expect(duringStuck).not.toContain('WATCHDOG=1')
    // The event loop was alive all along: the status timer reported the connection.
    expect(duringStuck).toContain('STATUS=1 connection(s) open, 0 queued, on 1 listener(s)')
    expect(afterStuck).toBeGreaterThan(beforeStuck) // pings again once the loop turns
  })

  it('a loop blocked by synchronous work sends nothing at all (no timer runs)', async () => {
    const notify = await notifyListener()
    const proc = start(process.execPath, [BUSY], { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC })
    const [, port] = await proc.waitFor(/port (\d+)/)
    await sleep(1_300)
    const client = net.connect(Number(port), '127.0.0.1').on('error', () => {})
    await new Promise((resolve) => client.once('connect', resolve))
    const blockedFrom = Date.now()
    await new Promise((resolve) => client.once('close', resolve))
    const start0 = notify.messages()[0]!.t
    await sleep(1_500)
    const pings = notify
      .messages()
      .filter((m) => m.m === 'WATCHDOG=1')
      .map((m) => m.t - start0)
    // No ping for the ~3 s the loop was blocked: the largest gap between pings covers it.
    const gaps = pings.slice(1).map((t, i) => t - pings[i]!)
    expect(Math.max(...gaps)).toBeGreaterThan(2.5)
    expect(Date.now() - blockedFrom).toBeGreaterThan(2_900)
  }, 20_000)
})

describe('restart without dropping a connection', () => {
  it('SIGHUP: a new process takes the sockets and says MAINPID= READY=1; the old one finishes its request, stays quiet and exits', async () => {
    const notify = await notifyListener()
    const path = join(tempDir(), 'echo.sock')
    const echo = start(process.execPath, [CLI, '--listen', 'tcp:127.0.0.1:0', '--listen', `unix:${path}`], {
      NOTIFY_SOCKET: notify.path,
    })
    const [, port] = await echo.waitFor(/listening on tcp 127\.0\.0\.1:(\d+)/)
    await echo.waitFor(/listening on unix/)
    // A connection in flight across the restart: half a line before, the rest after.
    const inFlight = net.connect(Number(port), '127.0.0.1')
    let echoed = ''
    inFlight.setEncoding('utf8').on('data', (d: string) => (echoed += d))
    await new Promise((resolve) => inFlight.once('connect', resolve))
    inFlight.write('before ')
    echo.child.kill('SIGHUP')
    const [, newPid] = await echo.waitFor(/process (\d+) serves now/)
    const fresh = await run('nc', ['-q', '1', '127.0.0.1', port!], { input: 'after restart\n' })
    expect(fresh.stdout.toString()).toBe('after restart\n')
    const overUnix = await run('nc', ['-U', '-q', '1', path], { input: 'unix after restart\n' })
    expect(overUnix.stdout.toString()).toBe('unix after restart\n')
    inFlight.end('and after\n')
    await new Promise((resolve) => inFlight.once('close', resolve))
    expect(echoed).toBe('before and after\n')
    expect(await echo.exited).toBe(0) // the old process drained and exited
    expect(echo.out()).toMatch(/echo: stopped: 1 connection\(s\)/)
    const messages = notify.messages().map((m) => m.m)
    expect(messages).toContain(`MAINPID=${newPid}\nREADY=1\nSTATUS=listening on 2 socket(s)`)
    expect(messages.filter((m) => m.startsWith('STOPPING=1'))).toEqual([]) // the old one stayed quiet
    // The new process serves on, and on its own SIGTERM stops and removes the socket file.
    process.kill(Number(newPid), 'SIGTERM')
    for (let i = 0; i < 100 && notify.messages().every((m) => !m.m.startsWith('STOPPING=1')); i++)
      await sleep(50)
    expect(notify.messages().at(-1)?.m).toBe('STOPPING=1\nSTATUS=draining after SIGTERM')
  }, 30_000)

  it('SIGHUP with --metrics: the new process takes the metrics port over once the old one stops accepting', async () => {
    const metricsPort = await freePort()
    const echo = start(process.execPath, [
      CLI,
      '--listen',
      'tcp:127.0.0.1:0',
      '--metrics',
      `127.0.0.1:${metricsPort}`,
    ])
    const [, port] = await echo.waitFor(/listening on tcp 127\.0\.0\.1:(\d+)/)
    await echo.waitFor(/metrics on/)
    const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    expect(await scrape()).toMatch(/socketserver_/)
    echo.child.kill('SIGHUP')
    const [, newPid] = await echo.waitFor(/process (\d+) serves now/)
    expect(await echo.exited).toBe(0)
    // The new process retried the port while the old one held it, then served it.
    await echo.waitFor(new RegExp(`metrics on http://127\\.0\\.0\\.1:${metricsPort}/metrics`), 10_000)
    const fresh = await run('nc', ['-q', '1', '127.0.0.1', port!], { input: 'counted\n' })
    expect(fresh.stdout.toString()).toBe('counted\n')
    const text = await scrape()
    expect(text).toMatch(/socketserver_requests_started_total\{[^}]*\} 1\b/)
    process.kill(Number(newPid), 'SIGTERM')
  }, 30_000)
})
