import { type ChildProcess, spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { once } from 'node:events'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { decodeReply, encodeCall, frameRecord, RpcClient, xdr } from '@socketserver/sunrpc'
import { memory } from '../proc.js'
import type { Scenario } from '../scenario.js'

/** The rpc-server app's CLI (built beside this app). */
const RPC_CLI = fileURLToPath(new URL('../../rpc-server/dist/cli.js', import.meta.url))
const KV_PROG = 0x20000101
const ROUNDS = 10
const MAX_RECORD = 64 * 1024 // the app's maxRecordSize
const MAX_FRAGMENTS = 64 // sunrpc's default maxFragments
/** Give up sending a fragment chain past this (the server should have closed it long before). */
const CHAIN_LIMIT = 64 * 1024 * 1024
/** Kernel socket buffers on loopback a client can fill before the server reads (tcp_wmem + tcp_rmem). */
const SOCKET_BUFFERS = 8 * 1024 * 1024

async function startRpcCli(): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  const child = spawn(process.execPath, [RPC_CLI, '--port', '0', '--register', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c))
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c))
  const end = Date.now() + 10_000
  for (;;) {
    const m = /listening on udp 127\.0\.0\.1:(\d+)/.exec(out)
    if (m) return { child, port: Number(m[1]), stderr: () => err }
    if (child.exitCode !== null || Date.now() > end) throw new Error(`rpc-server did not start: ${err}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Sends `bytes` on a new TCP connection; resolves with the reply records and whether the server closed it. */
async function tcpExchange(port: number, write: (s: net.Socket) => void, waitMs = 2_000, untilReply = false) {
  const socket = net.connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  await once(socket, 'connect')
  let buffer = Buffer.alloc(0)
  const replies: Buffer[] = []
  let closedByServer = false
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk])
    while (buffer.length >= 4) {
      const length = buffer.readUInt32BE(0) & 0x7fffffff
      if (buffer.length < 4 + length) break
      replies.push(buffer.subarray(4, 4 + length))
      buffer = buffer.subarray(4 + length)
      replied()
    }
  })
  let replied: () => void = () => {}
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      closedByServer = true
      resolve()
    })
    if (untilReply) replied = resolve
  })
  write(socket)
  await Promise.race([closed, new Promise((r) => setTimeout(r, waitMs))])
  socket.destroy()
  return { replies, closedByServer }
}

/** What an RPC message asks for, in raw form (so that it can lie). */
function call(
  fields: { xid: number; prog?: number; vers?: number; proc: number; rpcvers?: number },
  args: Buffer,
) {
  const header = encodeCall(
    {
      xid: fields.xid,
      prog: fields.prog ?? KV_PROG,
      vers: fields.vers ?? 1,
      proc: fields.proc,
      rpcvers: fields.rpcvers,
    },
    xdr.void,
    undefined,
  ).body()
  return Buffer.concat([header, args])
}

const u32 = (...values: number[]) => {
  const b = Buffer.alloc(values.length * 4)
  for (const [i, v] of values.entries()) b.writeUInt32BE(v >>> 0, i * 4)
  return b
}

export const sunrpcHostile: Scenario = {
  id: 11,
  title: 'Sun RPC hostile input',
  async run(r) {
    r.set({
      servers: `rpc-server app (KV_PROG over EventLoopTCPServer and EventLoopUDPServer, maxRecordSize ${MAX_RECORD}, maxFragments 64)`,
      load: 'one TCP and one UDP client calling PUT and GET back to back for the whole scenario',
      faults: 'none (the attacks are the input)',
      badInputs: `${ROUNDS} rounds of: a record mark claiming 2 GB; a fragment chain that never ends; truncated XDR (TCP and UDP); a value and a key whose length lies; unknown program, version and procedure; RPC version 3; random datagrams`,
    })
    const server = await startRpcCli()
    const pid = server.child.pid!
    try {
      const before = memory(pid)
      // The legitimate load, all along.
      let served = 0
      let failed = 0
      let firstFailure = ''
      let running = true
      const putArgs = xdr.struct({ key: xdr.string(255), value: xdr.varOpaque(4096) })
      const load = (['tcp', 'udp'] as const).map(async (transport) => {
        const c = await RpcClient.connect({
          host: '127.0.0.1',
          port: server.port,
          transport,
          timeout: 5_000,
          retransmit: 250,
        })
        try {
          for (let i = 0; running; i++) {
            const key = `${transport}-${i % 100}`
            const value = Buffer.from(`value ${i}`)
            await new Promise((res) => setTimeout(res, 2)) // a steady load, not a flood
            try {
              await c.call(KV_PROG, 1, 2, putArgs, { key, value }, xdr.uint)
              const got = await c.call(
                KV_PROG,
                1,
                1,
                xdr.string(),
                key,
                xdr.union(xdr.uint, { 0: xdr.varOpaque() }, xdr.void),
              )
              if (got.tag === 0 && Buffer.isBuffer(got.value) && got.value.equals(value)) served += 2
              else {
                failed++
                firstFailure ||= `GET ${key} answered ${JSON.stringify(got)}`
              }
            } catch (error) {
              failed++
              firstFailure ||= (error as Error).message
            }
          }
        } finally {
          c.close()
        }
      })

      const counts = {
        hugeClosed: 0,
        chainClosed: 0,
        chainMaxBytes: 0,
        statusOk: 0,
        statusWrong: [] as string[],
        datagramsAnswered: 0,
      }
      const expectStatus = async (what: string, message: Buffer, want: string, detail?: object) => {
        for (const transport of ['tcp', 'udp'] as const) {
          let reply: Buffer | undefined
          if (transport === 'tcp') {
            const { replies } = await tcpExchange(
              server.port,
              (s) => s.write(frameRecord(message)),
              1_000,
              true,
            )
            reply = replies[0]
          } else {
            const s = dgram.createSocket('udp4')
            await new Promise<void>((resolve) => s.connect(server.port, '127.0.0.1', resolve))
            s.send(message)
            reply = await Promise.race([
              once(s, 'message').then(([m]) => m as Buffer),
              new Promise<undefined>((res) => setTimeout(() => res(undefined), 1_000)),
            ])
            s.close()
          }
          const decoded = reply ? decodeReply(reply) : undefined
          const ok =
            decoded?.status === want &&
            decoded.xid === message.readUInt32BE(0) &&
            (!detail ||
              Object.entries(detail).every(([k, v]) => (decoded as Record<string, unknown>)[k] === v))
          if (ok) counts.statusOk++
          else
            counts.statusWrong.push(
              `${what} over ${transport}: ${decoded ? JSON.stringify({ ...decoded, reader: undefined }) : 'no reply'}`,
            )
        }
      }

      for (let round = 0; round < ROUNDS; round++) {
        const xid = 0x10000 + round * 16
        // 1. A record mark claiming 2 GB (last fragment, 0x7fffffff bytes), then some bytes.
        const huge = await tcpExchange(server.port, (s) => {
          s.write(u32(0xffffffff))
          s.write(Buffer.alloc(16 * 1024, 0x41))
        })
        if (huge.closedByServer && huge.replies.length === 0) counts.hugeClosed++
        // 2. A fragment chain that never ends: 1 KiB fragments without the last-fragment bit.
        let sent = 0
        const chain = await tcpExchange(server.port, (s) => {
          const fragment = Buffer.concat([u32(1024), Buffer.alloc(1024, 0x42)])
          // One fragment at a time, each once the previous left our buffer: `sent` is then what
          // reached the kernel before the server closed, up to 64 MiB.
          const pump = () => {
            if (s.destroyed || sent >= CHAIN_LIMIT) return
            if (s.writableLength === 0) {
              sent += fragment.length
              s.write(fragment)
            }
            setImmediate(pump)
          }
          pump()
        })
        if (chain.closedByServer) counts.chainClosed++
        counts.chainMaxBytes = Math.max(counts.chainMaxBytes, sent)
        // 3. Truncated XDR: PUT with half a key.
        await expectStatus(
          'truncated PUT',
          call({ xid: xid + 1, proc: 2 }, u32(200).subarray(0, 2)),
          'GARBAGE_ARGS',
        )
        // 4. Lengths that lie: a value of 0x7fffffff bytes, a key of 1e9 characters.
        await expectStatus(
          'value length 2^31-1',
          call(
            { xid: xid + 2, proc: 2 },
            Buffer.concat([u32(1, 0x61000000), u32(0x7fffffff), Buffer.alloc(8)]),
          ),
          'GARBAGE_ARGS',
        )
        await expectStatus(
          'key length 1e9',
          call({ xid: xid + 3, proc: 1 }, u32(1_000_000_000, 0)),
          'GARBAGE_ARGS',
        )
        // 5. Unknown program, version, procedure.
        await expectStatus(
          'unknown program',
          call({ xid: xid + 4, prog: KV_PROG + 1, proc: 0 }, Buffer.alloc(0)),
          'PROG_UNAVAIL',
        )
        await expectStatus(
          'unknown version',
          call({ xid: xid + 5, vers: 7, proc: 0 }, Buffer.alloc(0)),
          'PROG_MISMATCH',
          { low: 1, high: 1 },
        )
        await expectStatus(
          'unknown procedure',
          call({ xid: xid + 6, proc: 99 }, Buffer.alloc(0)),
          'PROC_UNAVAIL',
        )
        // 6. RPC version 3.
        await expectStatus(
          'RPC version 3',
          call({ xid: xid + 7, proc: 0, rpcvers: 3 }, Buffer.alloc(0)),
          'RPC_MISMATCH',
          { low: 2, high: 2 },
        )
        // 7. Random datagrams: too short for a call, or not a CALL: dropped, never answered.
        const junk = dgram.createSocket('udp4')
        await new Promise<void>((resolve) => junk.connect(server.port, '127.0.0.1', resolve))
        junk.on('message', () => counts.datagramsAnswered++)
        for (const size of [0, 3, 7, 8, 40])
          junk.send(Buffer.concat([u32(xid + 8, 1), Buffer.alloc(size)]).subarray(0, size))
        await new Promise((res) => setTimeout(res, 50))
        junk.close()
      }
      running = false
      await Promise.all(load)
      const after = memory(pid)
      const stillServes = await RpcClient.connect({
        host: '127.0.0.1',
        port: server.port,
        transport: 'tcp',
      }).then(async (c) => {
        try {
          await c.ping(KV_PROG, 1)
          return true
        } finally {
          c.close()
        }
      })

      r.check(
        `a record mark claiming 2 GB closed the connection unanswered, ${ROUNDS} of ${ROUNDS} times`,
        counts.hugeClosed === ROUNDS,
        counts,
      )
      r.check(
        `an endless fragment chain was cut off, ${ROUNDS} of ${ROUNDS} times`,
        counts.chainClosed === ROUNDS,
        { chainClosed: counts.chainClosed },
      )
      r.bound(
        'bytes of a fragment chain sent before the server closed it',
        `maxFragments ${MAX_FRAGMENTS} x 1028 + kernel socket buffers (${SOCKET_BUFFERS / 1024 / 1024} MiB)`,
        `${counts.chainMaxBytes} bytes at most`,
        counts.chainMaxBytes <= MAX_FRAGMENTS * 1028 + SOCKET_BUFFERS,
      )
      r.check(
        'each bad call got its RPC-level reply (GARBAGE_ARGS, PROG_UNAVAIL, PROG_MISMATCH 1-1, PROC_UNAVAIL, RPC_MISMATCH 2-2) over TCP and UDP',
        counts.statusWrong.length === 0 && counts.statusOk === ROUNDS * 7 * 2,
        counts.statusWrong.length === 0
          ? `${counts.statusOk} replies checked`
          : counts.statusWrong.slice(0, 3).join('; '),
      )
      r.check('random datagrams were dropped, never answered', counts.datagramsAnswered === 0, {
        answered: counts.datagramsAnswered,
      })
      r.check(
        'the refusals reached handleError() as RecordTooLargeError (SOCKSRV_RPC_RECORD_TOO_LARGE)',
        (server.stderr().match(/RecordTooLargeError/g) ?? []).length >= 2 * ROUNDS,
        `${(server.stderr().match(/RecordTooLargeError/g) ?? []).length} reported`,
      )
      r.check(
        'the legitimate clients were served throughout, with no failed call',
        failed === 0 && served > 0,
        { served, failed, firstFailure },
      )
      r.check('the server still answers NULL afterwards', stillServes)
      r.bound(
        'resident memory growth over the scenario',
        '< 64 MiB',
        `${(after.rss - before.rss).toFixed(1)} MiB (peak ${after.peak.toFixed(1)} MiB)`,
        after.rss - before.rss < 64,
      )
      r.figure('rssBeforeMiB', Number(before.rss.toFixed(1)))
      r.figure('rssAfterMiB', Number(after.rss.toFixed(1)))
      r.figure('rssPeakMiB', Number(after.peak.toFixed(1)))
      r.figure('legitimateCallsServed', served)
      r.figure('legitimateCallsFailed', failed)
      r.figure('badCallsAnswered', counts.statusOk)
      r.set({ lost: failed })
    } finally {
      server.child.kill('SIGKILL')
    }
  },
}
