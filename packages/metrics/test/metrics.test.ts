import dgram from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Gate, waitFor } from '@socketserver/compliance-tests'
import { ForkingMixIn } from '@socketserver/concurrency-fork'
import { ThreadingMixIn } from '@socketserver/concurrency-thread'
import { type BaseServer, channels, InvalidArgumentError, InvalidStateError } from '@socketserver/core'
import type { ConnectionStage } from '@socketserver/core/transport'
import { DatagramRequestHandler, StreamRequestHandler } from '@socketserver/stream-handlers'
import { EventLoopTCPServer, type InetAddress, TCPServer } from '@socketserver/transport-tcp'
import { EventLoopUDPServer } from '@socketserver/transport-udp'
import { EventLoopUnixStreamServer } from '@socketserver/transport-unix'
import { afterEach, describe, expect, it } from 'vitest'
import { type MetricsEndpoint, ServerMetrics, serveMetrics } from '../src/index.js'
import { Lines } from './fixtures/handlers.mjs'
import { parseExposition, promtoolCheck, series } from './prometheus.js'

const host = '127.0.0.1'
const handlerModule = new URL('./fixtures/handlers.mjs', import.meta.url).href

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function track<S extends BaseServer<any, any, any>>(server: S): S {
  cleanups.push(async () => {
    await server.shutdown()
    server.abortRequests()
    await server.serverClose()
  })
  void server.serveForever({ pollInterval: 10 })
  return server
}

function newMetrics(options?: ConstructorParameters<typeof ServerMetrics>[0]): ServerMetrics {
  const metrics = new ServerMetrics(options)
  cleanups.push(() => metrics.close())
  return metrics
}

async function endpoint(metrics: ServerMetrics): Promise<MetricsEndpoint> {
  const served = await serveMetrics({ host, port: 0, metrics })
  cleanups.push(() => served.close())
  return served
}

/** Scrapes over HTTP, checks the text with promtool, and parses it. */
async function scrape(served: MetricsEndpoint): Promise<Map<string, number>> {
  const response = await fetch(served.url)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  const text = await response.text()
  expect(promtoolCheck(text)).toEqual({ status: 0, output: '' })
  return parseExposition(text)
}

/** Scrapes until `done(series)` holds (what is counted on another socket's events may lag the client). */
async function scrapeUntil(
  served: MetricsEndpoint,
  done: (text: Map<string, number>) => boolean,
): Promise<Map<string, number>> {
  const deadline = Date.now() + 5_000
  for (;;) {
    const text = await scrape(served)
    if (done(text) || Date.now() > deadline) return text
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * A TCP client: sends `payload`, half-closes, resolves with everything the server sent back.
 * `refused`: the server resets the connection unprocessed (resolves on the reset instead).
 */
function exchange(port: number, payload: Buffer | string, { refused = false } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = net.connect(port, host, () => socket.end(payload))
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('close', () => resolve(Buffer.concat(chunks)))
    socket.on('error', (error) => (refused ? undefined : reject(error)))
  })
}

/** Connects and resolves once connected; destroyed after the test. */
function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host, () => resolve(socket))
    socket.on('error', reject)
    cleanups.push(() => socket.destroy())
  })
}

class ChunkEcho extends StreamRequestHandler {
  override async handle() {
    let chunk: Buffer
    while ((chunk = await this.rfile.read1()).length) await this.wfile.write(chunk)
  }
}

const labelOf = (server: { serverAddress: InetAddress }) => `tcp:${host}:${server.serverAddress.port}`

describe('ServerMetrics', () => {
  it('subscribes to the channels only while it exists', () => {
    const all = Object.values(channels)
    expect(all.filter((channel) => channel.hasSubscribers)).toEqual([])
    const metrics = new ServerMetrics()
    // Every channel but server:close (a closed server's gauges are dropped at the next scrape).
    expect(all.filter((channel) => !channel.hasSubscribers)).toEqual([channels.serverClose])
    metrics.close()
    metrics.close()
    expect(all.filter((channel) => channel.hasSubscribers)).toEqual([])
  })

  it('counts TCP requests exactly as load is applied: connections, durations, bytes both ways', async () => {
    const metrics = newMetrics()
    const served = await endpoint(metrics)
    const server = track(await EventLoopTCPServer.create({ host, port: 0 }, ChunkEcho))
    const server1 = { server: labelOf(server) }

    const before = await scrape(served)
    expect(before.get(series('socketserver_requests_active', server1))).toBe(0)
    expect(before.get(series('socketserver_connections_open', server1))).toBe(0)
    expect(before.get(series('socketserver_requests_started_total', server1))).toBeUndefined()

    const sizes = Array.from({ length: 25 }, (_, i) => 10 * (i + 1) + (i % 3))
    const replies = await Promise.all(
      sizes.map((size) => exchange(server.serverAddress.port, 'x'.repeat(size))),
    )
    expect(replies.map((reply) => reply.length)).toEqual(sizes)
    await waitFor(() => server.activeRequestCount === 0)

    const after = await scrape(served)
    const total = sizes.reduce((a, b) => a + b, 0)
    expect(after.get(series('socketserver_requests_started_total', server1))).toBe(25)
    expect(after.get(series('socketserver_requests_ended_total', server1))).toBe(25)
    expect(after.get(series('socketserver_connections_total', server1))).toBe(25)
    expect(after.get(series('socketserver_request_duration_seconds_count', server1))).toBe(25)
    expect(
      after.get(series('socketserver_request_duration_seconds_bucket', { ...server1, le: '+Inf' })),
    ).toBe(25)
    expect(after.get(series('socketserver_request_duration_seconds_sum', server1))).toBeGreaterThan(0)
    expect(after.get(series('socketserver_received_bytes_total', server1))).toBe(total)
    expect(after.get(series('socketserver_sent_bytes_total', server1))).toBe(total)

    // A second round moves the counters by exactly its own requests.
    await Promise.all(Array.from({ length: 7 }, () => exchange(server.serverAddress.port, 'ping\n')))
    await waitFor(() => server.activeRequestCount === 0)
    const again = await scrape(served)
    expect(again.get(series('socketserver_requests_started_total', server1))).toBe(32)
    expect(again.get(series('socketserver_received_bytes_total', server1))).toBe(total + 7 * 5)
  })

  it('reads queue depth, active requests and open connections at scrape time; counts a full queue', async () => {
    const metrics = newMetrics()
    const served = await endpoint(metrics)
    const gate = new Gate()
    class Waits extends StreamRequestHandler {
      override async handle() {
        await this.wfile.write('in\n')
        await gate.promise
      }
    }
    // One at a time: the first connection is processed, the next two wait, the fourth is dropped.
    const server = track(await TCPServer.create({ host, port: 0 }, Waits, { maxQueuedRequests: 2 }))
    const label = { server: labelOf(server) }
    const first = await connect(server.serverAddress.port)
    await new Promise((resolve) => first.once('data', resolve))
    for (let i = 0; i < 3; i++) await connect(server.serverAddress.port)
    await waitFor(() => server.queuedRequestCount === 2)

    const busy = await scrape(served)
    expect(busy.get(series('socketserver_requests_active', label))).toBe(1)
    expect(busy.get(series('socketserver_requests_queued', label))).toBe(2)
    expect(busy.get(series('socketserver_connections_open', label))).toBe(3)
    const queueFull = series('socketserver_requests_dropped_total', { ...label, reason: 'queue_full' })
    const dropped = await scrapeUntil(served, (text) => text.has(queueFull))
    expect(dropped.get(queueFull)).toBe(1)
    // Counted when processing starts or the connection is refused: the queued two are not yet.
    expect(dropped.get(series('socketserver_connections_total', label))).toBe(2)

    gate.open()
    await waitFor(() => server.activeRequestCount === 0 && server.queuedRequestCount === 0)
    const done = await scrape(served)
    expect(done.get(series('socketserver_requests_ended_total', label))).toBe(3)
    expect(done.get(series('socketserver_connections_total', label))).toBe(4)
    expect(done.get(series('socketserver_connections_open', label))).toBe(0)
  })

  it('counts refusals by reason: access control rule, verifyRequest, a connection stage by stage and code', async () => {
    const metrics = newMetrics()
    const served = await endpoint(metrics)

    const denied = track(
      await EventLoopTCPServer.create({ host, port: 0 }, ChunkEcho, {
        accessControl: { deny: ['127.0.0.0/8'] },
      }),
    )
    class Picky extends EventLoopTCPServer {
      override verifyRequest() {
        return false
      }
    }
    const picky = track(await Picky.create({ host, port: 0 }, ChunkEcho))
    class Staged extends EventLoopTCPServer {
      protected override connectionStages(): ConnectionStage<net.Socket, InetAddress>[] {
        return [
          {
            name: 'proxy',
            admit: async () => {
              throw new InvalidStateError('a test stage refusing every connection')
            },
          },
        ]
      }
      override handleRefusal() {} // no stderr line
    }
    const staged = track(await Staged.create({ host, port: 0 }, ChunkEcho))

    for (const server of [denied, picky, staged]) {
      await Promise.all(
        [1, 2, 3].map(() => exchange(server.serverAddress.port, 'refused?\n', { refused: true })),
      )
    }
    await waitFor(() => staged.refusedConnections.get('SOCKSRV_INVALID_STATE') === 3)
    const text = await scrape(served)
    expect(
      text.get(
        series('socketserver_requests_dropped_total', { server: labelOf(denied), reason: 'access_deny' }),
      ),
    ).toBe(3)
    expect(
      text.get(
        series('socketserver_requests_dropped_total', { server: labelOf(picky), reason: 'verify_request' }),
      ),
    ).toBe(3)
    expect(
      text.get(
        series('socketserver_connections_refused_total', {
          server: labelOf(staged),
          stage: 'proxy',
          code: 'SOCKSRV_INVALID_STATE',
        }),
      ),
    ).toBe(3)
    for (const server of [denied, picky, staged]) {
      expect(text.get(series('socketserver_connections_total', { server: labelOf(server) }))).toBe(3)
      expect(
        text.get(series('socketserver_requests_started_total', { server: labelOf(server) })),
      ).toBeUndefined()
    }
  })

  it('counts handler errors by code, or by class name for an error without one', async () => {
    const metrics = newMetrics()
    const served = await endpoint(metrics)
    class Fails extends StreamRequestHandler {
      override async handle() {
        const line = (await this.rfile.readline()).toString().trim()
        if (line === 'coded') throw new InvalidStateError('coded')
        throw new TypeError('plain')
      }
    }
    class Quiet extends EventLoopTCPServer {
      override handleError() {}
    }
    const server = track(await Quiet.create({ host, port: 0 }, Fails))
    await Promise.all(
      ['coded\n', 'coded\n', 'plain\n'].map((line) => exchange(server.serverAddress.port, line)),
    )
    await waitFor(() => server.activeRequestCount === 0)
    const text = await scrape(served)
    const label = labelOf(server)
    expect(
      text.get(series('socketserver_request_errors_total', { server: label, code: 'SOCKSRV_INVALID_STATE' })),
    ).toBe(2)
    expect(text.get(series('socketserver_request_errors_total', { server: label, code: 'TypeError' }))).toBe(
      1,
    )
    expect(text.get(series('socketserver_requests_ended_total', { server: label }))).toBe(3)
  })

  it('counts datagrams and their bytes on UDP, with no connection series', async () => {
    const metrics = newMetrics()
    const served = await endpoint(metrics)
    class DatagramEcho extends DatagramRequestHandler {
      override handle() {
        this.wfile.write(this.packet)
      }
    }
    const server = track(await EventLoopUDPServer.create({ host, port: 0 }, DatagramEcho))
    const label = { server: `udp:${host}:${server.serverAddress.port}` }
    const client = dgram.createSocket('udp4')
    cleanups.push(() => client.close())
    const sizes = [1, 10, 100, 1000, 1200]
    const echoed: number[] = []
    client.on('message', (message) => echoed.push(message.length))
    for (const size of sizes) client.send(Buffer.alloc(size, 1), server.serverAddress.port, host)
    await waitFor(() => echoed.length === sizes.length)
    await waitFor(() => server.activeRequestCount === 0)
    const text = await scrape(served)
    expect(text.get(series('socketserver_requests_started_total', label))).toBe(5)
    expect(text.get(series('socketserver_requests_ended_total', label))).toBe(5)
    expect(text.get(series('socketserver_received_bytes_total', label))).toBe(1 + 10 + 100 + 1000 + 1200)
    expect(text.get(series('socketserver_connections_total', label))).toBeUndefined()
    expect(text.get(series('socketserver_connections_open', label))).toBeUndefined()
    expect(text.get(series('socketserver_requests_queued', label))).toBe(0)
  })

  it('labels a Unix stream server by its path, and a named server by its name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'metrics-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, 'echo.sock')
    const unix = track(await EventLoopUnixStreamServer.create(path, ChunkEcho))
    const named = track(await EventLoopTCPServer.create({ host, port: 0 }, ChunkEcho))
    // Made after both listen: addServer() is how it learns of them (and names one).
    const metrics = newMetrics().addServer(unix).addServer(named, { name: 'echo' })
    const served = await endpoint(metrics)
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(path, () => socket.end('unix\n'))
      socket.resume()
      socket.on('close', () => resolve())
      socket.on('error', reject)
    })
    await exchange(named.serverAddress.port, 'named\n')
    await waitFor(() => unix.activeRequestCount === 0 && named.activeRequestCount === 0)
    const text = await scrape(served)
    expect(text.get(series('socketserver_requests_ended_total', { server: `unix:${path}` }))).toBe(1)
    expect(text.get(series('socketserver_received_bytes_total', { server: `unix:${path}` }))).toBe(5)
    expect(text.get(series('socketserver_requests_ended_total', { server: 'echo' }))).toBe(1)
    expect(text.get(series('socketserver_requests_active', { server: 'echo' }))).toBe(0)
  })

  it('stops reading a closed server’s gauges and keeps its counters', async () => {
    const metrics = newMetrics()
    const served = await endpoint(metrics)
    const server = await EventLoopTCPServer.create({ host, port: 0 }, ChunkEcho)
    void server.serveForever()
    await exchange(server.serverAddress.port, 'x')
    await waitFor(() => server.activeRequestCount === 0)
    await server.shutdown()
    await server.serverClose()
    const text = await scrape(served)
    expect(text.get(series('socketserver_requests_ended_total', { server: labelOf(server) }))).toBe(1)
    expect(text.get(series('socketserver_requests_active', { server: labelOf(server) }))).toBeUndefined()
  })

  it('adds process metrics on request, and promtool still passes', async () => {
    const served = await endpoint(newMetrics({ processMetrics: true, prefix: 'myapp_' }))
    const text = await scrape(served)
    expect(text.has(series('process_cpu_user_seconds_total'))).toBe(true)
    expect(text.has(series('nodejs_eventloop_lag_seconds'))).toBe(true)
    expect([...text.keys()].some((key) => key.startsWith('myapp_connections_open'))).toBe(false) // no server yet
    expect(text.has(series('nodejs_active_handles_total'))).toBe(false)
  })

  it('rejects bad options with InvalidArgumentError', () => {
    expect(() => new ServerMetrics({ prefix: 'bad-prefix' })).toThrow(InvalidArgumentError)
    expect(() => new ServerMetrics({ durationBuckets: [1, 0.5] })).toThrow(InvalidArgumentError)
    expect(() => new ServerMetrics({ durationBuckets: [] })).toThrow(InvalidArgumentError)
    expect(() => new ServerMetrics({ registry: {} as never })).toThrow(InvalidArgumentError)
    expect(() => new ServerMetrics({ nope: 1 } as never)).toThrow(/has no option 'nope'/)
    expect(Object.values(channels).filter((channel) => channel.hasSubscribers)).toEqual([])
  })
})

describe('pools: requests handled in workers are counted in the main process', () => {
  const ThreadingTCPServer = ThreadingMixIn(TCPServer)
  const ForkingTCPServer = ForkingMixIn(TCPServer)
  const pools = [
    ['thread', () => ThreadingTCPServer.create({ host, port: 0 }, Lines, { handlerModule, threads: 2 })],
    ['process', () => ForkingTCPServer.create({ host, port: 0 }, Lines, { handlerModule, processes: 2 })],
  ] as const

  for (const [kind, create] of pools) {
    it(`${kind} pool: busy and idle workers, spawn events, requests started and ended`, async () => {
      const metrics = newMetrics()
      const served = await endpoint(metrics)
      const server = track(await create())
      const label = labelOf(server)
      const workers = (state: string) => series('socketserver_pool_workers', { server: label, kind, state })

      const idle = await scrape(served)
      expect(idle.get(workers('busy'))).toBe(0)
      expect(idle.get(workers('idle'))).toBe(2)
      expect(
        idle.get(series('socketserver_pool_worker_events_total', { server: label, kind, event: 'spawn' })),
      ).toBe(2)

      const held = await connect(server.serverAddress.port)
      held.write('hold\n')
      await new Promise((resolve) => held.once('data', resolve))
      const busy = await scrape(served)
      expect(busy.get(workers('busy'))).toBe(1)
      expect(busy.get(workers('idle'))).toBe(1)
      expect(busy.get(series('socketserver_requests_active', { server: label }))).toBe(1)

      held.end('go\n')
      const replies = await Promise.all(
        Array.from({ length: 5 }, () => exchange(server.serverAddress.port, 'hi\n')),
      )
      expect(replies.map(String)).toEqual(Array(5).fill('hi\n'))
      await waitFor(() => server.activeRequestCount === 0)
      const done = await scrape(served)
      expect(done.get(series('socketserver_requests_started_total', { server: label }))).toBe(6)
      expect(done.get(series('socketserver_requests_ended_total', { server: label }))).toBe(6)
      expect(done.get(series('socketserver_request_duration_seconds_count', { server: label }))).toBe(6)
      expect(done.get(workers('busy'))).toBe(0)
    })
  }
})

describe('serveMetrics', () => {
  it('answers GET and HEAD on /metrics, 404 elsewhere, 405 for other methods', async () => {
    const served = await serveMetrics({ host, port: 0 })
    cleanups.push(() => served.close())
    expect(served.url).toBe(`http://${host}:${served.address.port}/metrics`)
    expect((await fetch(`${served.url}?x=1`)).status).toBe(200)
    const head = await fetch(served.url, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
    expect((await fetch(`http://${host}:${served.address.port}/`)).status).toBe(404)
    const post = await fetch(served.url, { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
  })

  it('closes the metrics it made, and rejects a busy port and a bad one', async () => {
    const served = await serveMetrics({ host, port: 0 })
    expect(channels.requestStart.hasSubscribers).toBe(true)
    await expect(serveMetrics({ host, port: served.address.port })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    })
    await served.close()
    await served.close()
    expect(channels.requestStart.hasSubscribers).toBe(false)
    await expect(serveMetrics({ port: 70000 })).rejects.toThrow(InvalidArgumentError)
    const metrics = newMetrics()
    await expect(serveMetrics({ port: 0, metrics, options: {} })).rejects.toThrow(InvalidArgumentError)
  })
})
