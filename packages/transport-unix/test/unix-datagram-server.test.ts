import { spawnSync } from 'node:child_process'
import diagnostics from 'node:diagnostics_channel'
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { BaseRequestHandler } from '@socketserver/core'
import { DatagramRequestHandler } from '@socketserver/stream-handlers'
import {
  EventLoopUnixDatagramServer,
  EventLoopUnixStreamServer,
  MAX_UNIX_PATH_BYTES,
  type UnixDatagramRequest,
  UnixDatagramServer,
  UnixDatagramSocket,
} from '@socketserver/transport-unix'
import { afterEach, describe, expect, it } from 'vitest'
import { abstractName, pythonDatagrams, TempDirs } from './helpers.js'

const temp = new TempDirs()
const servers: Array<UnixDatagramServer | EventLoopUnixStreamServer> = []
const loops: Promise<void>[] = []
const sockets: UnixDatagramSocket[] = []

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close()
  for (const server of servers.splice(0)) {
    await server.shutdown()
    await server.serverClose()
  }
  await Promise.all(loops.splice(0))
  temp.cleanup()
})

/** Python's `socket.sendto(data.upper(), client_address)`, reporting what it saw. */
class Upper extends BaseRequestHandler<UnixDatagramRequest, string> {
  static seen: Array<{ clientAddress: string; size: number; sameSocket: boolean }> = []
  override async handle() {
    const [packet, socket] = this.request
    Upper.seen.push({
      clientAddress: this.clientAddress,
      size: packet.length,
      sameSocket: socket === (this.server as UnixDatagramServer).socket,
    })
    await socket.send(
      packet.length > 100 ? String(packet.length) : packet.toString().toUpperCase(),
      this.clientAddress,
    )
  }
}

async function serve(
  path: string,
  Handler: new (...args: any[]) => BaseRequestHandler<UnixDatagramRequest, string> = Upper,
  options?: ConstructorParameters<typeof UnixDatagramServer>[2],
  errors: unknown[] = [],
) {
  const server = await EventLoopUnixDatagramServer.create(path, Handler, options)
  server.handleError = (_request, _address, error) => {
    errors.push(error)
  }
  servers.push(server)
  loops.push(server.serveForever({ pollInterval: 20 }))
  return server
}

/** Binds a datagram socket in `dir` whose datagrams land in `received`, as a client would. */
async function client(path: string, received: Array<{ data: string; from: string }> = []) {
  const socket = await UnixDatagramSocket.open(
    (packet, from) => received.push({ data: packet.toString(), from }),
    () => {},
  )
  sockets.push(socket)
  socket.bind(path)
  return { socket, received }
}

async function until(predicate: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('UnixDatagramServer', () => {
  it('answers a Python client bound to its own path, which it learns as the client address', async () => {
    Upper.seen = []
    const dir = temp.dir()
    const server = await serve(join(dir, 'server.sock'))
    expect(server.serverAddress).toBe(join(dir, 'server.sock'))
    expect(server.addressFamily).toBe('Unix')
    expect(server.socketType).toBe('dgram')
    expect(lstatSync(server.serverAddress).isSocket()).toBe(true)
    const clientPath = join(dir, 'client.sock')
    const replies = await pythonDatagrams(server.serverAddress, clientPath, ['hello', 'world'])
    expect(replies).toEqual([
      { data: 'HELLO', size: 5, from: server.serverAddress },
      { data: 'WORLD', size: 5, from: server.serverAddress },
    ])
    expect(Upper.seen).toEqual([
      { clientAddress: clientPath, size: 5, sameSocket: true },
      { clientAddress: clientPath, size: 5, sameSocket: true },
    ])
  })

  it('gives "" for a client that did not bind, and reports the failed reply (EDESTADDRREQ) to handleError', async () => {
    Upper.seen = []
    const errors: unknown[] = []
    const server = await serve(temp.path(), Upper, undefined, errors)
    const replies = await pythonDatagrams(server.serverAddress, null, ['anyone?'], 0.5)
    expect(replies).toEqual([{ timeout: true }])
    await until(() => errors.length === 1)
    expect(Upper.seen).toEqual([{ clientAddress: '', size: 7, sameSocket: true }])
    expect(errors[0]).toMatchObject({ code: 'EDESTADDRREQ' })
  })

  it('runs a DatagramRequestHandler: rfile over the packet, wfile sent back as one datagram', async () => {
    class LineCount extends DatagramRequestHandler<string, UnixDatagramServer, UnixDatagramSocket> {
      override async handle() {
        let lines = 0
        for await (const _ of this.rfile) lines++
        await this.wfile.write(`${lines} lines`)
      }
    }
    const dir = temp.dir()
    const server = await serve(join(dir, 'server.sock'), LineCount as never)
    const replies = await pythonDatagrams(server.serverAddress, join(dir, 'c.sock'), ['a\nb\nc\n'])
    expect(replies).toEqual([{ data: '3 lines', size: 7, from: server.serverAddress }])
  })

  it('truncates a datagram longer than maxPacketSize (8192 by default), counts it and publishes it', async () => {
    const published: any[] = []
    const listener = (message: unknown) => published.push(message)
    diagnostics.subscribe('socketserver:packet:oversized', listener)
    try {
      const dir = temp.dir()
      const server = await serve(join(dir, 'server.sock'))
      expect(server.maxPacketSize).toBe(8192)
      // 70000 bytes: the native library reads at most 65535 of it, still above maxPacketSize.
      const replies = await pythonDatagrams(server.serverAddress, join(dir, 'c.sock'), [
        '#10000',
        '#8192',
        '#70000',
      ])
      expect(replies.map((r) => r.data)).toEqual(['8192', '8192', '8192'])
      expect(server.oversizedPacketCount).toBe(2)
      expect(published.map(({ size, limit, action }) => ({ size, limit, action }))).toEqual([
        { size: 10000, limit: 8192, action: 'truncate' },
        { size: 65535, limit: 8192, action: 'truncate' },
      ])
      expect(published[0].clientAddress).toBe(join(dir, 'c.sock'))
    } finally {
      diagnostics.unsubscribe('socketserver:packet:oversized', listener)
    }
  })

  it("drops oversized datagrams with oversizedPackets: 'drop'", async () => {
    Upper.seen = []
    const dir = temp.dir()
    const server = await serve(join(dir, 'server.sock'), Upper, {
      maxPacketSize: 100,
      oversizedPackets: 'drop',
    })
    const replies = await pythonDatagrams(server.serverAddress, join(dir, 'c.sock'), ['#101', 'small'], 0.5)
    expect(replies).toEqual([{ timeout: true }, { data: 'SMALL', size: 5, from: server.serverAddress }])
    expect(server.oversizedPacketCount).toBe(1)
    expect(Upper.seen.map((s) => s.size)).toEqual([5])
  })

  it('refuses bad options, abstract names and over-long paths before any system call', () => {
    for (const maxPacketSize of [0, -1, 1.5, 65_536]) {
      expect(
        () => new UnixDatagramServer(temp.path(), Upper, { maxPacketSize, bindAndActivate: false }),
      ).toThrow(expect.objectContaining({ code: 'SOCKSRV_INVALID_ARGUMENT' }))
    }
    expect(
      () =>
        new UnixDatagramServer(temp.path(), Upper, {
          oversizedPackets: 'keep' as never,
          bindAndActivate: false,
        }),
    ).toThrow(expect.objectContaining({ code: 'SOCKSRV_INVALID_ARGUMENT' }))
    expect(() => new UnixDatagramServer(abstractName(), Upper)).toThrow(
      expect.objectContaining({
        code: 'SOCKSRV_INVALID_ARGUMENT',
        message: expect.stringContaining('abstract'),
      }),
    )
    const dir = temp.dir()
    expect(
      () => new UnixDatagramServer(join(dir, 'x'.repeat(MAX_UNIX_PATH_BYTES - dir.length)), Upper),
    ).toThrow(expect.objectContaining({ code: 'SOCKSRV_PATH_TOO_LONG' }))
    expect(readdirSync(dir)).toEqual([])
  })

  it('removes a stale socket file left by a dead process, and binds', async () => {
    const path = temp.path()
    // Python binds a datagram socket at path and exits: the file stays, nobody is bound to it.
    const python = spawnSync('python3', [
      '-c',
      'import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind(sys.argv[1])',
      path,
    ])
    expect(python.status).toBe(0)
    expect(lstatSync(path).isSocket()).toBe(true)
    const server = await serve(path)
    const replies = await pythonDatagrams(server.serverAddress, `${path}.client`, ['again'])
    expect(replies).toEqual([{ data: 'AGAIN', size: 5, from: path }])
  })

  it('refuses a path a live datagram or stream server is bound to (EADDRINUSE), and leaves it', async () => {
    const dir = temp.dir()
    const datagram = await serve(join(dir, 'd.sock'))
    await expect(UnixDatagramServer.create(datagram.serverAddress, Upper)).rejects.toMatchObject({
      code: 'SOCKSRV_BIND_FAILED',
      errno: 'EADDRINUSE',
    })
    const stream = await EventLoopUnixStreamServer.create(join(dir, 's.sock'), BaseRequestHandler)
    servers.push(stream)
    await expect(UnixDatagramServer.create(stream.serverAddress, Upper)).rejects.toMatchObject({
      errno: 'EADDRINUSE',
    })
    const replies = await pythonDatagrams(datagram.serverAddress, join(dir, 'c.sock'), ['still'])
    expect(replies).toEqual([{ data: 'STILL', size: 5, from: datagram.serverAddress }])
    expect(lstatSync(stream.serverAddress).isSocket()).toBe(true)
  })

  it('never deletes a path that is not a socket (NotASocketError)', async () => {
    const path = temp.path('precious.txt')
    writeFileSync(path, 'keep me')
    await expect(UnixDatagramServer.create(path, Upper)).rejects.toMatchObject({
      code: 'SOCKSRV_NOT_A_SOCKET',
      path,
    })
    expect(readFileSync(path, 'utf8')).toBe('keep me')
  })

  it('applies socketMode (set before the socket appears at its path), and still replies', async () => {
    const dir = temp.dir()
    const server = await serve(join(dir, 'server.sock'), Upper, { socketMode: 0o620 })
    expect(statSync(server.serverAddress).mode & 0o7777).toBe(0o620)
    expect(readdirSync(dir)).toEqual(['server.sock'])
    const replies = await pythonDatagrams(server.serverAddress, join(dir, 'c.sock'), ['mode'])
    expect(replies.map((r) => r.data)).toEqual(['MODE'])
  })

  it('serverClose() removes its socket file, and only its own', async () => {
    const path = temp.path()
    const server = await serve(path)
    await server.shutdown()
    await server.serverClose()
    expect(existsSync(path)).toBe(false)

    const replaced = temp.path()
    const first = await serve(replaced)
    unlinkSync(replaced)
    const second = await serve(replaced)
    await first.shutdown()
    await first.serverClose()
    expect(lstatSync(replaced).isSocket()).toBe(true)
    const replies = await pythonDatagrams(second.serverAddress, `${replaced}.c`, ['second'])
    expect(replies.map((r) => r.data)).toEqual(['SECOND'])
  })

  it('keeps serving after a reply fails because the client went away', async () => {
    const errors: unknown[] = []
    const dir = temp.dir()
    const server = await serve(join(dir, 'server.sock'), Upper, undefined, errors)
    const gone = await client(join(dir, 'gone.sock'))
    await gone.socket.send('bye', server.serverAddress)
    gone.socket.close()
    unlinkSync(join(dir, 'gone.sock'))
    await until(() => errors.length === 1)
    expect(errors[0]).toMatchObject({ code: 'ENOENT' })
    const alive = await client(join(dir, 'alive.sock'))
    await alive.socket.send('hi', server.serverAddress)
    await until(() => alive.received.length === 1)
    expect(alive.received).toEqual([{ data: 'HI', from: server.serverAddress }])
  })

  it('handles one datagram at a time, in order, through the serve queue (UnixDatagramServer)', async () => {
    const order: string[] = []
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    class Slow extends BaseRequestHandler<UnixDatagramRequest, string> {
      override async handle() {
        order.push(`start ${this.request[0]}`)
        if (order.length === 1) await gate
        order.push(`end ${this.request[0]}`)
      }
    }
    const dir = temp.dir()
    const server = await UnixDatagramServer.create(join(dir, 'server.sock'), Slow)
    servers.push(server)
    loops.push(server.serveForever({ pollInterval: 20 }))
    const { socket } = await client(join(dir, 'c.sock'))
    for (const n of ['1', '2', '3']) await socket.send(n, server.serverAddress)
    await until(() => server.queuedRequestCount === 2)
    expect(order).toEqual(['start 1'])
    release()
    await until(() => order.length === 6)
    expect(order).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3'])
  })
})

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url))

describe.runIf(existsSync(dist))('UnixDatagramServer in worker threads (built dist/)', () => {
  // What each worker runs: a server on workerData.path that answers 'worker <id>: <packet>'; on a
  // message, 'close' closes it and reports, 'exit' calls process.exit() with the server still open.
  const source = `
    const { parentPort, workerData } = require('node:worker_threads')
    import(${JSON.stringify(dist)}).then(async ({ EventLoopUnixDatagramServer }) => {
      class Echo { constructor(request, clientAddress) { this.request = request; this.clientAddress = clientAddress }
        setup() {} finish() {}
        async handle() { await this.request[1].send('worker ' + workerData.id + ': ' + this.request[0], this.clientAddress) } }
      const server = await EventLoopUnixDatagramServer.create(workerData.path, Echo)
      const loop = server.serveForever({ pollInterval: 20 })
      parentPort.postMessage('ready')
      parentPort.once('message', async (what) => {
        if (what === 'exit') process.exit(0)
        await server.shutdown(); await server.serverClose(); await loop; parentPort.postMessage('closed')
      })
    }, (error) => parentPort.postMessage('error: ' + error.message))
  `
  const next = (worker: Worker) => new Promise((resolve) => worker.once('message', resolve))

  it('serves from two workers at once, round after round, each answering a Python client', async () => {
    // Three rounds: the library's own worker cleanup hook (which this package avoids) aborted the
    // process in most such runs when the workers ended.
    for (let round = 0; round < 3; round++) {
      const dir = temp.dir()
      const workers = [1, 2].map(
        (id) => new Worker(source, { eval: true, workerData: { id, path: join(dir, `w${id}.sock`) } }),
      )
      try {
        expect(await Promise.all(workers.map(next))).toEqual(['ready', 'ready'])
        const replies = await Promise.all(
          [1, 2].map((id) => pythonDatagrams(join(dir, `w${id}.sock`), join(dir, `c${id}.sock`), ['ping'])),
        )
        expect(replies.map((r) => r[0]?.data)).toEqual(['worker 1: ping', 'worker 2: ping'])
        const closed = workers.map(next)
        for (const worker of workers) worker.postMessage('close')
        expect(await Promise.all(closed)).toEqual(['closed', 'closed'])
        expect(readdirSync(dir).filter((f) => f.startsWith('w'))).toEqual([])
      } finally {
        await Promise.all(workers.map((worker) => worker.terminate()))
      }
    }
  })

  it('survives process.exit() in a worker whose server is still open', async () => {
    const dir = temp.dir()
    for (let i = 0; i < 3; i++) {
      const worker = new Worker(source, { eval: true, workerData: { id: i, path: join(dir, `w${i}.sock`) } })
      expect(await next(worker)).toBe('ready')
      const exited = new Promise((resolve) => worker.once('exit', resolve))
      worker.postMessage('exit')
      expect(await exited).toBe(0)
    }
  })
})
