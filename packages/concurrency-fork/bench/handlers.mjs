// The benchmark's handlers; forked children import this module (handlerModule).
import { createHash } from 'node:crypto'
import { StreamRequestHandler } from '@socketserver/stream-handlers'

/** A sha256 chain of `rounds` hashes: the CPU-bound work (the bench calibrates it to ~2 ms). */
export function sha(rounds) {
  let digest = Buffer.from('socketserver')
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest()
  return digest.toString('hex')
}

// Children get HASH_ROUNDS because the bench passes it in `env` (nothing else is inherited).
const rounds = Number(process.env.HASH_ROUNDS || 2000)

/** One line in, its ~2 ms hash out (64 hex digits and a newline), until end of stream. */
export class Hash extends StreamRequestHandler {
  disableNagleAlgorithm = true
  async handle() {
    for await (const line of this.rfile) await this.wfile.write(`${sha(rounds + (line.length & 1))}\n`)
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

/** One line in, the same line out, then the connection closes: a request per connection. */
export class LineOnce extends StreamRequestHandler {
  disableNagleAlgorithm = true
  async handle() {
    await this.wfile.write(await this.rfile.readline())
  }
}
