import net from 'node:net'
import { performance } from 'node:perf_hooks'
import type { RunRequest, RunResult } from '../protocol.js'
import { LatencyHistogram } from '../stats.js'
import { beginWindow, sleep } from './window.js'

/** Opens a client connection reading through `onread`; `ready` is the event that says it is usable. */
export type Opener = (
  req: RunRequest,
  onread: { buffer: Buffer; callback: (n: number) => boolean },
) => { socket: net.Socket; ready: 'connect' | 'secureConnect' }

/** node:net, TCP or (with `path`) Unix. */
export const netOpener: Opener = ({ host, port, path }, onread) => ({
  socket:
    path === undefined ? net.connect({ host, port, noDelay: true, onread }) : net.connect({ path, onread }),
  ready: 'connect',
})

/** A request that takes longer than this is counted as an error (and its socket destroyed). */
const REQUEST_TIMEOUT_MS = 5_000

/**
 * A request per connection: `connections` clients, each in a loop: connect, send one line of
 * `messageSize` bytes, read its echo, see the server close, close. The server closes first, so the
 * TIME_WAIT state lands on its side and this process never runs out of ephemeral ports. Latency is
 * connect to close.
 */
export async function tcpConnect(
  req: RunRequest,
  histogram = new LatencyHistogram(),
  open: Opener = netOpener,
  header?: Buffer,
): Promise<RunResult> {
  const { connections, durationMs, messageSize } = req
  const line = Buffer.alloc(messageSize, 0x61)
  line[messageSize - 1] = 10
  // The PROXY header goes in the same write as the line: what is measured is parsing it, not a segment more.
  const request = header ? Buffer.concat([header, line]) : line
  const readBuffer = Buffer.allocUnsafe(64 * 1024)
  let measuring = true
  let completed = 0
  let errors = 0
  let firstError: string | undefined
  const start = performance.now()
  const deadline = start + durationMs

  const once = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now()
      let got = 0
      let ok = true
      let done = false
      const finish = (error?: string) => {
        if (done) return
        done = true
        clearTimeout(timer)
        const now = performance.now()
        if (error === undefined && got === messageSize && ok) {
          if (now <= deadline) {
            completed++
            histogram.record((now - t0) * 1000)
          }
        } else if (measuring || error !== undefined) {
          errors++
          firstError ??=
            error ?? (ok ? `got ${got} of ${messageSize} bytes before the close` : 'echo differs')
        }
        socket.destroy()
        resolve()
      }
      const { socket, ready } = open(req, {
        buffer: readBuffer,
        callback: (n) => {
          if (ok && !readBuffer.subarray(0, n).equals(line.subarray(got, got + n))) ok = false
          got += n
          return true
        },
      })
      const timer = setTimeout(() => finish(`no answer in ${REQUEST_TIMEOUT_MS} ms`), REQUEST_TIMEOUT_MS)
      socket.once(ready, () => socket.write(request))
      // The server's FIN: answer with ours (no TIME_WAIT here), done.
      socket.once('end', () => finish())
      socket.once('error', (error) => finish(error.message))
    })

  const end = beginWindow()
  const clients = Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) await once()
  })
  await sleep(durationMs)
  const stats = end()
  measuring = false
  await Promise.all(clients)
  return {
    requests: completed,
    elapsedMs: durationMs,
    latency: histogram.summary(),
    ...stats,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  }
}

/** HAProxy's `send-proxy-v2` header for an IPv4 client (28 bytes): what a balancer adds to each connection. */
const PROXY_V2 = Buffer.from('0d0a0d0a000d0a515549540a2111000ccb007107c0000201d4310050', 'hex')

/** `tcp-connect` with a PROXY protocol v2 header ahead of each request. */
export const tcpConnectProxy = (req: RunRequest, histogram?: LatencyHistogram) =>
  tcpConnect(req, histogram, netOpener, PROXY_V2)
