import { spawnSync } from 'node:child_process'
import dgram from 'node:dgram'
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { describeDescriptor, RestartError, restartProcess } from '../src/index.js'
import { listeningDescriptor } from '../src/transport-api.js'

const open: Array<{ close(): void }> = []
const dirs: string[] = []
afterEach(() => {
  for (const socket of open.splice(0)) socket.close()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const listen = (server: net.Server, options: net.ListenOptions) =>
  new Promise<void>((resolve) => server.listen(options, resolve))

describe('describeDescriptor() reads what a descriptor is from /proc', () => {
  it('tells TCP from UDP, IPv4 from IPv6, listening or not, and a Unix socket with its path', async () => {
    const tcp6 = net.createServer()
    await listen(tcp6, { host: '::1', port: 0 })
    const udp4 = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => udp4.bind(0, '127.0.0.1', resolve))
    const dir = mkdtempSync(join(tmpdir(), 'sd-'))
    dirs.push(dir)
    const unix = net.createServer()
    await listen(unix, { path: join(dir, 's.sock') })
    open.push(tcp6, udp4, unix)
    expect(describeDescriptor(listeningDescriptor(tcp6))).toEqual({
      type: 'stream',
      family: 'IPv6',
      listening: true,
    })
    expect(describeDescriptor(listeningDescriptor(udp4))).toEqual({
      type: 'dgram',
      family: 'IPv4',
      listening: false,
    })
    expect(describeDescriptor(listeningDescriptor(unix))).toEqual({
      type: 'stream',
      family: 'Unix',
      listening: true,
      path: join(dir, 's.sock'),
    })
    // A connected TCP socket (what systemd's Accept=yes passes) is a stream socket that does not listen.
    const client = net.connect((tcp6.address() as net.AddressInfo).port, '::1')
    await new Promise((resolve) => client.once('connect', resolve))
    open.push({ close: () => client.destroy() })
    const fd = (client as unknown as { _handle: { fd: number } })._handle.fd
    expect(describeDescriptor(fd)).toEqual({ type: 'stream', family: 'IPv6', listening: false })
    const file = openSync(join(dir, 'plain'), 'w')
    open.push({ close: () => closeSync(file) })
    expect(describeDescriptor(file)).toEqual({ type: 'unknown', family: 'unknown', listening: false })
    expect(describeDescriptor(987_654).type).toBe('unknown') // not open
  })
})

describe('listenFds()', () => {
  const run = (env: NodeJS.ProcessEnv) => {
    const script = `
      import { listenFds } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)}
      const fds = listenFds()
      console.log(JSON.stringify({ fds, left: Object.keys(process.env).filter((k) => k.startsWith('LISTEN_') || k.startsWith('SOCKETSERVER_LISTEN')) }))`
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
    })
    return JSON.parse(result.stdout)
  }

  it('takes descriptors meant for this pid (LISTEN_PID is checked by a wrapper that execs: sh here) and removes the variables', () => {
    const result = spawnSync(
      'sh',
      [
        '-c',
        `LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=web:dns exec "${process.execPath}" --input-type=module -e 'import { listenFds } from ${JSON.stringify(fileURLToPath(new URL('../dist/index.js', import.meta.url)))}; console.log(JSON.stringify([listenFds(), process.env.LISTEN_FDS ?? null]))'`,
      ],
      { encoding: 'utf8' },
    )
    expect(JSON.parse(result.stdout)).toEqual([
      [
        { fd: 3, name: 'web', origin: 'systemd' },
        { fd: 4, name: 'dns', origin: 'systemd' },
      ],
      null,
    ])
  })

  it('ignores descriptors meant for another process, and still removes the variables', () => {
    expect(run({ LISTEN_FDS: '1', LISTEN_PID: '1', LISTEN_FDNAMES: 'web' })).toEqual({ fds: [], left: [] })
    // A restart's variables name the parent: a process whose parent is not that one takes nothing.
    expect(run({ LISTEN_FDS: '1', SOCKETSERVER_LISTEN_PARENT: '1' })).toEqual({ fds: [], left: [] })
  })
})

describe('restartProcess()', () => {
  it('rejects with RestartError, handing nothing over, when the new process exits before it is ready', async () => {
    const server = {
      fileno: () => 0,
      listenerHandedOver: () => {
        throw new Error('must not be called')
      },
    } as never
    const failed = restartProcess([{ server }], {
      command: process.execPath,
      args: ['-e', 'process.exit(3)'],
    })
    await expect(failed).rejects.toBeInstanceOf(RestartError)
    await expect(failed).rejects.toThrow('the new process exited (code 3) before it was ready')
  })

  it('rejects with RestartError when the new process is not ready in time', async () => {
    const server = { fileno: () => 0 } as never
    const failed = restartProcess([{ server }], {
      command: process.execPath,
      args: ['-e', 'setTimeout(() => {}, 10000)'],
      readyTimeout: 300,
    })
    await expect(failed).rejects.toThrow('the new process was not ready within 300 ms')
  })
})
