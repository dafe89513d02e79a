import dgram from 'node:dgram'
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { decodeReply, encodeCall, RpcClient, xdr } from '@socketserver/sunrpc'
import type { RunRequest, RunResult } from '../protocol.js'
import { kvNumbers } from '../servers/rpc.js'
import { LatencyHistogram } from '../stats.js'
import { beginWindow, sleep } from './window.js'

const RESEND_AFTER_MS = 200
const KEY = 'bench-key'
const VALUE = Buffer.alloc(32, 0x61)

type Call = 'null' | 'get'

/** The call a client sends, encoded once; only the xid changes (a fresh one per call). */
function callBytes(call: Call, xid: number): Buffer {
  const kv = kvNumbers()
  const c =
    call === 'null'
      ? encodeCall({ xid, prog: kv.prog, vers: kv.vers, proc: kv.NULL }, xdr.void, undefined)
      : encodeCall({ xid, prog: kv.prog, vers: kv.vers, proc: kv.GET }, xdr.string(), KEY)
  return Buffer.from(c.frame())
}

/** Checks a reply: SUCCESS, and for GET the value stored. */
function check(call: Call, message: Buffer): string | undefined {
  const reply = decodeReply(message)
  if (reply.status !== 'SUCCESS') return `reply ${reply.status}`
  if (call === 'get') {
    const status = reply.reader.uint32()
    if (status !== 0) return `GET answered status ${status}`
    const v = xdr.varOpaque().decode(reply.reader)
    if (!v.equals(VALUE)) return 'GET answered another value'
  }
  return undefined
}

/**
 * `connections` RPC clients, each with one call in flight (TCP: one connection each, record
 * marking; UDP: one socket each, a call not answered in 200 ms is sent again with the same xid
 * and counted lost). Every call has a new xid, so a server's reply cache never answers for it.
 * GET reads a 32-byte value that one PUT stored before the window.
 */
function rpcWorkload(transport: 'tcp' | 'udp', call: Call) {
  return async (req: RunRequest, histogram = new LatencyHistogram()): Promise<RunResult> => {
    const { host, port, connections, durationMs } = req
    let measuring = false
    let deadline = Number.POSITIVE_INFINITY
    let completed = 0
    let errors = 0
    let lost = 0
    let firstError: string | undefined
    let xid = (Math.random() * 0x7fffffff) >>> 0
    const fail = (message: string) => {
      errors++
      firstError ??= message
    }
    interface Client {
      send(bytes: Buffer): void
      template: Buffer
      sentAt: number
      xid: number
      verified: boolean
      close(): Promise<void>
    }
    const offset = transport === 'tcp' ? 4 : 0
    const issue = (c: Client) => {
      c.xid = xid = (xid + 1) >>> 0
      c.template.writeUInt32BE(c.xid, offset)
      c.sentAt = performance.now()
      c.send(c.template)
    }
    const onReply = (c: Client, message: Buffer) => {
      if (message.length < 4 || message.readUInt32BE(0) !== c.xid) return // a late duplicate
      if (!c.verified) {
        const problem = check(call, message)
        if (problem) return fail(problem)
        c.verified = true
      }
      const now = performance.now()
      if (now <= deadline) {
        completed++
        histogram.record((now - c.sentAt) * 1000)
      }
      c.sentAt = 0
      if (measuring) issue(c)
    }

    const open = async (): Promise<Client> => {
      const template = callBytes(call, 0)
      if (transport === 'tcp') {
        const socket = net.connect({ host, port })
        socket.setNoDelay(true)
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve)
          socket.once('error', reject)
        })
        socket.on('error', (e) => fail(e.message))
        const c: Client = {
          send: (b) => socket.write(b),
          template,
          sentAt: 0,
          xid: 0,
          verified: false,
          close: async () => {
            socket.destroy()
          },
        }
        let buffer = Buffer.alloc(0)
        socket.on('data', (chunk) => {
          buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
          while (buffer.length >= 4) {
            const length = buffer.readUInt32BE(0) & 0x7fffffff
            if (buffer.length < 4 + length) break
            const message = buffer.subarray(4, 4 + length)
            buffer = buffer.subarray(4 + length)
            onReply(c, message)
          }
        })
        return c
      }
      const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
      socket.on('error', (e) => fail(e.message))
      await new Promise<void>((resolve) => socket.connect(port, host, resolve))
      const body = template.subarray(4)
      const c: Client = {
        send: (b) => socket.send(b),
        template: body,
        sentAt: 0,
        xid: 0,
        verified: false,
        close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
      }
      socket.on('message', (m) => onReply(c, m))
      return c
    }

    const clients = await Promise.all(Array.from({ length: connections }, open))
    if (call === 'get') {
      // One PUT before the window, over the same transport, so that GET finds a value.
      const kv = kvNumbers()
      const setup = await RpcClient.connect({
        host,
        port,
        transport,
        timeout: 5000,
        retransmit: RESEND_AFTER_MS,
      })
      try {
        const status = await setup.call(
          kv.prog,
          kv.vers,
          kv.PUT,
          xdr.struct({ key: xdr.string(), value: xdr.varOpaque() }),
          { key: KEY, value: VALUE },
          xdr.uint,
        )
        if (status !== 0) fail(`PUT answered status ${status}`)
      } finally {
        setup.close()
      }
    }
    const resend = setInterval(() => {
      const now = performance.now()
      if (transport === 'udp') {
        for (const c of clients) {
          if (measuring && c.sentAt && now - c.sentAt > RESEND_AFTER_MS) {
            lost++
            c.sentAt = now
            c.send(c.template)
          }
        }
      }
    }, RESEND_AFTER_MS / 2)
    const end = beginWindow()
    deadline = performance.now() + durationMs
    measuring = true
    for (const c of clients) issue(c)
    await sleep(durationMs)
    measuring = false
    const stats = end()
    clearInterval(resend)
    await sleep(20)
    await Promise.all(clients.map((c) => c.close()))
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
}

export const rpcWorkloads = {
  'rpc-tcp-null': rpcWorkload('tcp', 'null'),
  'rpc-tcp-get': rpcWorkload('tcp', 'get'),
  'rpc-udp-null': rpcWorkload('udp', 'null'),
  'rpc-udp-get': rpcWorkload('udp', 'get'),
}
