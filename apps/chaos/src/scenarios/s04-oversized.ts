import { closedWithin, connect, exchange } from '../client.js'
import { startServer } from '../proc.js'
import type { Scenario } from '../scenario.js'
import { baseline, memoryBound, sampleMemory } from './s02-slow-reader.js'

const EACH = 10
const LINE_BYTES = 10 * 1024 * 1024
const MEMORY_BOUND_MIB = 48

export const oversized: Scenario = {
  id: 4,
  title: 'Oversized input',
  async run(r) {
    r.set({
      servers:
        'EventLoopTCPServer: line echo (readline, maxLineLength 64 KiB) and frame echo (LengthPrefixedDecoder, maxFrameSize 1 MiB)',
      load: `${EACH} line connections and ${EACH} frame connections at once`,
      badInputs: `${EACH} × a 10 MB line without a newline; ${EACH} × a 4-byte length prefix claiming 4 GB (0xFFFFFFFF) followed by 64 KiB`,
    })
    const server = await startServer('oversized')
    const lines = { port: server.ready.port }
    const frames = { port: server.ready.framePort }
    try {
      const base = await baseline(server, () => exchange(lines, 'warm up\n', { untilClose: false }))
      const sampler = sampleMemory(server)
      const attack = async (target: { port: number }, payload: Buffer) => {
        const socket = await connect(target)
        socket.on('error', () => {})
        socket.resume()
        socket.write(payload)
        return closedWithin(socket, 15_000)
      }
      const header = Buffer.alloc(4)
      header.writeUInt32BE(0xffffffff)
      const claim = Buffer.concat([header, Buffer.alloc(64 * 1024, 0x62)])
      const line = Buffer.alloc(LINE_BYTES, 0x61)
      const closed = await Promise.all([
        ...Array.from({ length: EACH }, () => attack(lines, line)),
        ...Array.from({ length: EACH }, () => attack(frames, claim)),
      ])
      const peak = await sampler.stop()
      const stats = await server.stats()
      r.figure('server', stats)
      r.figure('closedAfterMs', closed)
      const open = closed.filter((ms) => ms === undefined).length
      r.check(
        'every attacking connection was closed by the server',
        open === 0,
        `${closed.length - open} of ${closed.length}, slowest after ${Math.max(...closed.map((ms) => ms ?? Infinity)).toFixed(0)} ms`,
      )
      r.check(
        'typed error for each long line: LineTooLongError (SOCKSRV_LINE_TOO_LONG)',
        stats.byCode.SOCKSRV_LINE_TOO_LONG === EACH,
        stats.byCode,
      )
      r.check(
        'typed error for each 4 GB claim: FrameTooLargeError (SOCKSRV_FRAME_TOO_LARGE)',
        stats.byCode.SOCKSRV_FRAME_TOO_LARGE === EACH,
        stats.byCode,
      )
      r.check('no other error reached handleError', Object.keys(stats.byCode).length === 2, stats.byCode)
      memoryBound(r, base, peak, MEMORY_BOUND_MIB)
      const good = await exchange(lines, 'a normal line\n', { untilClose: false })
      const frame = Buffer.from([0, 0, 0, 2, 0x68, 0x69])
      const goodFrame = await exchange(frames, frame.toString('latin1'), { untilBytes: 6 })
      r.check(
        'a normal line and a normal frame are still echoed',
        good.data === 'a normal line\n' && goodFrame.data.endsWith('hi') && goodFrame.outcome === 'answered',
        [good, goodFrame],
      )
      r.set({ lost: 0 })
    } finally {
      await server.kill()
    }
  },
}
