// The benchmark's handlers; worker threads import this module (handlerModule).
import { pbkdf2Sync } from 'node:crypto'
import { StreamRequestHandler } from '@socketserver/stream-handlers'

/**
 * The CPU-bound work: PBKDF2-HMAC-SHA256 with `iterations` rounds, one native call (the bench
 * calibrates it to ~2 ms). Unlike a loop of createHash() calls, it allocates nothing per round, so
 * the figure measures the handler's CPU, not the garbage collector's.
 */
export function work(iterations) {
  return pbkdf2Sync('socketserver', 'salt', iterations, 32, 'sha256').toString('hex')
}

const iterations = Number(process.env.PBKDF2_ITERATIONS || 2000)

/** One line in, its ~2 ms key out (64 hex digits and a newline), until end of stream. */
export class Hash extends StreamRequestHandler {
  disableNagleAlgorithm = true
  async handle() {
    for await (const line of this.rfile) await this.wfile.write(`${work(iterations + (line.length & 1))}\n`)
  }
}

/** Echoes what arrives (64-byte messages in the bench) until end of stream. */
export class Echo64 extends StreamRequestHandler {
  disableNagleAlgorithm = true
  async handle() {
    let chunk
    while ((chunk = await this.rfile.read1()).length) await this.wfile.write(chunk)
  }
}
