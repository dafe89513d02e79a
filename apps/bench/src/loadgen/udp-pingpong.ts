import dgram from 'node:dgram'
import { performance } from 'node:perf_hooks'
import type { RunRequest, RunResult } from '../protocol.js'
import { LatencyHistogram } from '../stats.js'
import { beginWindow, sleep } from './window.js'

/** A datagram not answered in this long is counted lost and sent again (UDP may drop under load). */
const RESEND_AFTER_MS = 200

interface Client {
  socket: dgram.Socket
  sentAt: number
  verified: boolean
}

/**
 * `connections` UDP sockets, each connected to the server with one `messageSize`-byte datagram in
 * flight: send, wait for the echo, send again. A lost datagram is sent again after 200 ms and
 * counted in `lost`.
 */
export async function udpPingPong(req: RunRequest, histogram = new LatencyHistogram()): Promise<RunResult> {
  const { host, port, connections, durationMs, messageSize } = req
  const payload = Buffer.alloc(messageSize)
  for (let i = 0; i < messageSize; i++) payload[i] = 97 + (i % 26)
  let measuring = false
  let deadline = Number.POSITIVE_INFINITY
  let completed = 0
  let errors = 0
  let lost = 0
  let firstError: string | undefined

  const send = (c: Client) => {
    c.sentAt = performance.now()
    c.socket.send(payload)
  }
  const clients: Client[] = await Promise.all(
    Array.from({ length: connections }, async () => {
      const socket = dgram.createSocket('udp4')
      const c: Client = { socket, sentAt: 0, verified: false }
      socket.on('error', (error) => {
        errors++
        firstError ??= error.message
      })
      socket.on('message', (msg) => {
        if (!c.verified) {
          if (!msg.equals(payload)) {
            errors++
            firstError ??= 'echo differs from what was sent'
            return
          }
          c.verified = true
        }
        const now = performance.now()
        if (now <= deadline) {
          completed++
          histogram.record((now - c.sentAt) * 1000)
        }
        if (measuring) send(c)
        else c.sentAt = 0
      })
      await new Promise<void>((resolve) => socket.bind(0, host, resolve))
      await new Promise<void>((resolve) => socket.connect(port, host, resolve))
      return c
    }),
  )
  const resend = setInterval(() => {
    const now = performance.now()
    for (const c of clients) {
      if (measuring && c.sentAt && now - c.sentAt > RESEND_AFTER_MS) {
        lost++
        send(c)
      }
    }
  }, RESEND_AFTER_MS / 2)

  const end = beginWindow()
  const start = performance.now()
  deadline = start + durationMs
  measuring = true
  for (const c of clients) send(c)
  await sleep(durationMs)
  measuring = false
  const stats = end()
  clearInterval(resend)
  await sleep(20) // answers in flight land on open sockets, not as ICMP port-unreachable
  await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.socket.close(() => resolve()))))
  return {
    requests: completed,
    elapsedMs: durationMs,
    latency: histogram.summary(),
    ...stats,
    errors,
    lost,
    ...(firstError === undefined ? {} : { firstError }),
  }
}
