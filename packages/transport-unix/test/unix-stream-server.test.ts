import { execFileSync, spawn } from 'node:child_process'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { StreamRequestHandler } from '@socketserver/stream-handlers'
import {
  EventLoopUnixStreamServer,
  MAX_UNIX_PATH_BYTES,
  PADDED_ABSTRACT_NAMES,
  UnixStreamServer,
} from '@socketserver/transport-unix'
import { afterEach, describe, expect, it } from 'vitest'
import { abstractName, Children, exchange, run, TempDirs } from './helpers.js'

const temp = new TempDirs()
const children = new Children()
const servers: UnixStreamServer[] = []
const loops: Promise<void>[] = []

afterEach(async () => {
  for (const server of servers.splice(0)) {
    await server.shutdown()
    await server.serverClose()
  }
  await Promise.all(loops.splice(0))
  await children.cleanup()
  temp.cleanup()
})

class Echo extends StreamRequestHandler<string> {
  override async handle() {
    let chunk: Buffer
    while ((chunk = await this.rfile.read1()).length) await this.wfile.write(chunk)
  }
}

const seen: string[] = []
class RecordAddress extends StreamRequestHandler<string> {
  override async handle() {
    seen.push(this.clientAddress)
    await this.rfile.read() // to the client's EOF
    await this.wfile.write('ok\n')
  }
}

async function serve(
  address: string,
  Handler: typeof Echo | typeof RecordAddress = Echo,
  options?: ConstructorParameters<typeof UnixStreamServer>[2],
) {
  const server = await EventLoopUnixStreamServer.create(address, Handler, options)
  servers.push(server)
  loops.push(server.serveForever({ pollInterval: 20 }))
  return server
}

/** A node:net server in a child process on `path`, killed with SIGKILL: it leaves its socket file behind. */
async function leaveStaleSocket(path: string): Promise<void> {
  const child = children.track(
    spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('ready'))`,
    ]),
  )
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)))
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

describe('UnixStreamServer on a filesystem path', () => {
  it('echoes, reports the path as serverAddress and "" as the client address', async () => {
    const path = temp.path()
    const server = await serve(path)
    expect(server.serverAddress).toBe(path)
    expect(server.addressFamily).toBe('Unix')
    expect(server.socketType).toBe('stream')
    expect(lstatSync(path).isSocket()).toBe(true)
    expect((await exchange(path, 'hello unix\n')).toString()).toBe('hello unix\n')

    seen.length = 0
    const recorder = await serve(temp.path(), RecordAddress)
    expect((await exchange(recorder.serverAddress, '')).toString()).toBe('ok\n')
    expect(seen).toEqual([''])
  })

  it('serves socat (UNIX-CONNECT) and nc -U, which half-close after sending', async () => {
    const path = temp.path()
    await serve(path)
    const socat = await run('socat', ['-t', '5', '-', `UNIX-CONNECT:${path}`], 'line one\nline two\n')
    expect(socat.stdout).toBe('line one\nline two\n')
    // -N: shut the socket down for writing at end of input, so the server sees EOF and closes.
    const nc = await run('nc', ['-N', '-U', path], 'from netcat\n')
    expect(nc.stdout).toBe('from netcat\n')
  })

  it('answers a client that half-closes first, then closes (shutdownRequest)', async () => {
    class ReadAllThenReply extends StreamRequestHandler<string> {
      override async handle() {
        const all = await this.rfile.read()
        await this.wfile.write(`got ${all.length} bytes\n`)
      }
    }
    const server = await UnixStreamServer.create(temp.path(), ReadAllThenReply)
    servers.push(server)
    loops.push(server.serveForever({ pollInterval: 20 }))
    expect((await exchange(server.serverAddress, Buffer.alloc(100_000, 1))).toString()).toBe(
      'got 100000 bytes\n',
    )
  })

  it('delivers the whole reply and a clean end of stream when the client sent more than was read', async () => {
    class AnswerFirstLine extends StreamRequestHandler<string> {
      override async handle() {
        await this.rfile.readline()
        await this.wfile.write(Buffer.alloc(256 * 1024, 0x72))
      }
    }
    const path = temp.path()
    await serve(path, AnswerFirstLine)
    const talk = () =>
      new Promise<{ received: number; error?: string }>((resolve) => {
        let received = 0
        const client = net.connect({ path, allowHalfOpen: true }, () => {
          client.write('question\n')
          const junk = Buffer.alloc(64 * 1024, 0x6a)
          for (let i = 0; i < 8; i++) client.write(junk) // 512 KiB the server never reads (within lingerBytes)
          client.end()
        })
        client.on('data', (d: Buffer) => {
          received += d.length
        })
        client.on('error', (e: NodeJS.ErrnoException) => resolve({ received, error: e.code }))
        client.on('close', () => resolve({ received }))
      })
    const results = await Promise.all(Array.from({ length: 10 }, talk))
    for (const result of results) expect(result).toEqual({ received: 256 * 1024 })
  })

  it('applies socketMode (set before the socket appears at its path), leaving nothing else in the directory', async () => {
    const dir = temp.dir()
    for (const mode of [0o600, 0o660, 0o666]) {
      const path = join(dir, `m${mode.toString(8)}.sock`)
      await serve(path, Echo, { socketMode: mode })
      expect(statSync(path).mode & 0o7777).toBe(mode)
      expect((await exchange(path, 'x')).toString()).toBe('x')
    }
    expect(readdirSync(dir).sort()).toEqual(['m600.sock', 'm660.sock', 'm666.sock'])
  })

  it('without socketMode, the file gets what the umask gives', async () => {
    const path = temp.path()
    await serve(path)
    expect(statSync(path).mode & 0o777).toBe(0o777 & ~process.umask())
  })

  it('removes a stale socket file left by a server that was killed, and binds', async () => {
    const path = temp.path()
    await leaveStaleSocket(path)
    expect(lstatSync(path).isSocket()).toBe(true)
    await expect(exchange(path, 'x')).rejects.toMatchObject({ code: 'ECONNREFUSED' })
    await serve(path)
    expect((await exchange(path, 'after restart')).toString()).toBe('after restart')
  })

  it('refuses a path a live server is bound to with BindError EADDRINUSE, and leaves it serving', async () => {
    const path = temp.path()
    await serve(path)
    const error = await EventLoopUnixStreamServer.create(path, Echo).catch((e) => e)
    expect(error).toMatchObject({ code: 'SOCKSRV_BIND_FAILED', errno: 'EADDRINUSE', address: path })
    expect((await exchange(path, 'still here')).toString()).toBe('still here')
  })

  it('never deletes a path that is not a socket (NotASocketError)', async () => {
    const dir = temp.dir()
    const file = join(dir, 'precious.txt')
    writeFileSync(file, 'keep me')
    const directory = join(dir, 'a-directory')
    mkdirSync(directory)
    const link = join(dir, 'link-to-socket')
    const live = join(dir, 'live.sock')
    await serve(live)
    symlinkSync(live, link) // a symlink is not followed, even to a socket
    for (const path of [file, directory, link]) {
      const error = await EventLoopUnixStreamServer.create(path, Echo).catch((e) => e)
      expect(error).toMatchObject({ code: 'SOCKSRV_NOT_A_SOCKET', path })
    }
    expect(readFileSync(file, 'utf8')).toBe('keep me')
    expect(statSync(directory).isDirectory()).toBe(true)
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(readdirSync(dir).sort()).toEqual(['a-directory', 'link-to-socket', 'live.sock', 'precious.txt'])
  })

  it('refuses a path too long for sun_path before any system call (SocketPathTooLongError)', async () => {
    const dir = temp.dir()
    const longest = join(dir, 'x'.repeat(MAX_UNIX_PATH_BYTES - dir.length - 1))
    expect(Buffer.byteLength(longest)).toBe(MAX_UNIX_PATH_BYTES)
    const tooLong = `${longest}y`
    expect(() => new UnixStreamServer(tooLong, Echo)).toThrow(
      expect.objectContaining({
        code: 'SOCKSRV_PATH_TOO_LONG',
        bytes: MAX_UNIX_PATH_BYTES + 1,
        limit: MAX_UNIX_PATH_BYTES,
      }),
    )
    await expect(UnixStreamServer.create(tooLong, Echo)).rejects.toMatchObject({
      code: 'SOCKSRV_PATH_TOO_LONG',
    })
    // Multi-byte characters count as bytes, as in sun_path.
    const wide = join(dir, 'é'.repeat(Math.ceil((MAX_UNIX_PATH_BYTES - dir.length) / 2)))
    expect(() => new UnixStreamServer(wide, Echo)).toThrow(
      expect.objectContaining({ code: 'SOCKSRV_PATH_TOO_LONG' }),
    )
    expect(readdirSync(dir)).toEqual([])
    // The longest path that fits binds (in place: the private directory would not fit) and serves.
    await serve(longest, Echo, { socketMode: 0o600 })
    expect(statSync(longest).mode & 0o777).toBe(0o600)
    expect((await exchange(longest, 'fits')).toString()).toBe('fits')
  })

  it('refuses addresses that are not a path string', () => {
    for (const address of ['', 'a\0b', Buffer.from('/tmp/x.sock'), 42, null]) {
      expect(() => new UnixStreamServer(address as string, Echo)).toThrow(
        expect.objectContaining({ code: 'SOCKSRV_INVALID_ARGUMENT' }),
      )
    }
    for (const socketMode of [-1, 0o10000, 1.5]) {
      expect(() => new UnixStreamServer(temp.path(), Echo, { socketMode })).toThrow(
        expect.objectContaining({ code: 'SOCKSRV_INVALID_ARGUMENT' }),
      )
    }
  })

  it('serverClose() removes the socket file it created', async () => {
    const path = temp.path()
    const server = await serve(path)
    expect(existsSync(path)).toBe(true)
    await server.shutdown()
    await server.serverClose()
    expect(existsSync(path)).toBe(false)
    await server.serverClose() // idempotent
  })

  it('serverClose() leaves a file that replaced its socket, and another server socket at the path', async () => {
    const path = temp.path()
    const first = await serve(path)
    unlinkSync(path)
    writeFileSync(path, 'not yours')
    await first.serverClose()
    expect(readFileSync(path, 'utf8')).toBe('not yours')

    const other = temp.path()
    const a = await serve(other)
    unlinkSync(other)
    await serve(other) // b: a new server at the same path
    await a.serverClose()
    expect(lstatSync(other).isSocket()).toBe(true)
    expect((await exchange(other, 'b answers')).toString()).toBe('b answers')
  })

  it.runIf(process.platform === 'linux')('uses requestQueueSize as the listen backlog', async () => {
    // While this process's event loop is blocked (execFileSync), nothing is accepted: a Python
    // client's non-blocking connects queue in the kernel until the backlog is full (then EAGAIN).
    const script = `
import socket, sys
held, accepted = [], 0
for _ in range(40):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(sys.argv[1]); accepted += 1
    except BlockingIOError:
        break
    held.append(s)
print(accepted)
`
    const queued: Record<number, number> = {}
    for (const backlog of [2, 9]) {
      const server = await UnixStreamServer.create(temp.path(), Echo, { requestQueueSize: backlog })
      servers.push(server)
      queued[backlog] = Number(execFileSync('python3', ['-c', script, server.serverAddress]).toString())
    }
    // Linux lets one more than the backlog wait (sk_ack_backlog > sk_max_ack_backlog).
    expect(queued).toEqual({ 2: 3, 9: 10 })
  })
})

describe.runIf(process.platform === 'linux')('UnixStreamServer on an abstract name', () => {
  it('echoes over an abstract name, with no file on disk', async () => {
    const name = abstractName()
    const server = await serve(name)
    expect(server.serverAddress).toBe(name)
    expect((await exchange(name, 'abstract hello\n')).toString()).toBe('abstract hello\n')
    expect(readFileSync('/proc/net/unix', 'utf8')).toContain(`@${name.slice(1)}`)
  })

  it('serves socat ABSTRACT-CONNECT', async () => {
    const name = abstractName()
    await serve(name)
    // Node 20 (libuv 1.46) binds the name padded to the whole sun_path: socat must connect the same way.
    const address = `ABSTRACT-CONNECT:${name.slice(1)}${PADDED_ABSTRACT_NAMES ? ',unix-tightsocklen=0' : ''}`
    const socat = await run('socat', ['-t', '5', '-', address], 'via socat\n')
    expect(socat.stdout).toBe('via socat\n')
  })

  it('is reachable by Python under the name the runtime binds (exact, or padded on Node 20)', async () => {
    const name = abstractName()
    await serve(name)
    const script = `
import socket, sys
name = '\\0' + sys.argv[1]
if sys.argv[2] == 'padded':
    name = name.ljust(108, '\\0')
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(name)
s.sendall(b'from python\\n')
s.shutdown(socket.SHUT_WR)
print(s.recv(100).decode(), end='')
`
    const python = await run('python3', [
      '-c',
      script,
      name.slice(1),
      PADDED_ABSTRACT_NAMES ? 'padded' : 'exact',
    ])
    expect(python.stderr).toBe('')
    expect(python.stdout).toBe('from python\n')
    // The kernel's name for it: '@name' then the padding NULs (shown as '@') on Node 20, or nothing.
    const names = readFileSync('/proc/net/unix', 'utf8')
      .split('\n')
      .map((line) => line.split(' ').pop())
    expect(names).toContain(
      PADDED_ABSTRACT_NAMES ? `@${name.slice(1)}`.padEnd(108, '@') : `@${name.slice(1)}`,
    )
  })

  it('refuses an abstract name in use (EADDRINUSE), and frees it at close', async () => {
    const name = abstractName()
    const server = await serve(name)
    await expect(EventLoopUnixStreamServer.create(name, Echo)).rejects.toMatchObject({
      code: 'SOCKSRV_BIND_FAILED',
      errno: 'EADDRINUSE',
    })
    await server.shutdown()
    await server.serverClose()
    await serve(name)
    expect((await exchange(name, 'again')).toString()).toBe('again')
  })

  it('refuses socketMode and over-long names', () => {
    expect(() => new UnixStreamServer(abstractName(), Echo, { socketMode: 0o600 })).toThrow(
      expect.objectContaining({ code: 'SOCKSRV_INVALID_ARGUMENT' }),
    )
    expect(() => new UnixStreamServer(`\0${'a'.repeat(MAX_UNIX_PATH_BYTES + 1)}`, Echo)).toThrow(
      expect.objectContaining({ code: 'SOCKSRV_PATH_TOO_LONG' }),
    )
    expect(() => new UnixStreamServer('\0', Echo)).toThrow(
      expect.objectContaining({ code: 'SOCKSRV_INVALID_ARGUMENT' }),
    )
  })
})
