import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'

/** A sha256 chain of `rounds` hashes: the CPU-bound handler's work. */
export function sha(rounds: number): string {
  let digest = Buffer.from('socketserver')
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest()
  return digest.toString('hex')
}

/**
 * Rounds of `sha` that take about `targetMs` on this machine. The fastest of several runs: on a busy
 * machine the others include time the core spent elsewhere.
 */
export function calibrateHashRounds(targetMs = 2): number {
  sha(2_000)
  let perHash = Number.POSITIVE_INFINITY
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now()
    sha(1_000)
    perHash = Math.min(perHash, (performance.now() - t0) / 1_000)
  }
  return Math.max(1, Math.round(targetMs / perHash))
}
