import { isIPv6 } from 'node:net'
import { performance } from 'node:perf_hooks'
import { type InetAddress, InvalidArgumentError } from '@socketserver/core'

/**
 * Source ports of the classic UDP services (echo, daytime, chargen, time, NTP). A UDP service that
 * answers datagrams from them can be made to ping-pong with another such service forever.
 */
export const WELL_KNOWN_SERVICE_PORTS: readonly number[] = [7, 13, 19, 37, 123]

export interface RateLimitOptions {
  /** Datagrams answered per second per source address, on average. Default: `5`. */
  rate?: number
  /** Datagrams a source may send at once before the rate applies. Default: `10`. */
  burst?: number
  /** Source addresses remembered; past this the least recently seen is forgotten. Default: `10000`. */
  maxTracked?: number
  /** Monotonic time in ms. Default: `performance.now`. */
  now?: () => number
}

export const DEFAULT_RATE = 5
export const DEFAULT_BURST = 10

/**
 * A token bucket per source address: each holds up to `burst` tokens, refilled at `rate` per
 * second; a datagram is answered only if it can take one. Memory is bounded by `maxTracked`
 * (least recently seen forgotten first, so a forgotten source comes back with a full bucket).
 */
export class TokenBucketLimiter {
  readonly rate: number
  readonly burst: number
  readonly maxTracked: number
  readonly #now: () => number
  readonly #buckets = new Map<string, { tokens: number; at: number }>()

  constructor({
    rate = DEFAULT_RATE,
    burst = DEFAULT_BURST,
    maxTracked = 10_000,
    now,
  }: RateLimitOptions = {}) {
    if (!(typeof rate === 'number' && rate > 0 && Number.isFinite(rate)))
      throw new InvalidArgumentError(
        `option 'rate' of TokenBucketLimiter must be a finite number > 0; got ${rate}`,
      )
    if (!(Number.isInteger(burst) && burst >= 1))
      throw new InvalidArgumentError(
        `option 'burst' of TokenBucketLimiter must be an integer >= 1; got ${burst}`,
      )
    if (!(Number.isInteger(maxTracked) && maxTracked >= 1))
      throw new InvalidArgumentError(
        `option 'maxTracked' of TokenBucketLimiter must be an integer >= 1; got ${maxTracked}`,
      )
    this.rate = rate
    this.burst = burst
    this.maxTracked = maxTracked
    this.#now = now ?? (() => performance.now())
  }

  /** Sources being tracked. */
  get size(): number {
    return this.#buckets.size
  }

  /** Takes a token for `key`; false when its bucket is empty. */
  take(key: string): boolean {
    const now = this.#now()
    let bucket = this.#buckets.get(key)
    if (bucket) {
      this.#buckets.delete(key) // re-inserted below: the Map's order is least recently seen first
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.rate) / 1000)
      bucket.at = now
    } else {
      if (this.#buckets.size >= this.maxTracked) this.#buckets.delete(this.#buckets.keys().next().value!)
      bucket = { tokens: this.burst, at: now }
    }
    this.#buckets.set(key, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }
}

/**
 * The key a source is rate-limited by: the IPv4 address (also when IPv4-mapped, `::ffff:a.b.c.d`),
 * or the /64 prefix of an IPv6 address, since one host commonly owns a whole /64 and could
 * otherwise rotate through fresh buckets.
 */
export function rateLimitKey(address: string): string {
  if (!isIPv6(address)) return address
  const mapped = address.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i)
  if (mapped) return mapped[1]!
  const [head = '', tail] = address.split('::')
  const headGroups = head ? head.split(':') : []
  const tailGroups = tail ? tail.split(':') : []
  // An IPv4 tail (a.b.c.d) fills two groups; it only ever touches the last 64 bits.
  const tailLength = tailGroups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0)
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array(8 - headGroups.length - tailLength).fill('0'), ...tailGroups]
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`
}

export interface ReflectionGuardOptions extends RateLimitOptions {
  /** Source ports never answered. Default: `WELL_KNOWN_SERVICE_PORTS` (7, 13, 19, 37, 123). */
  blockedSourcePorts?: Iterable<number>
  /** Rate-limit each source (IPv4 address or IPv6 /64). Default: `true`. */
  rateLimit?: boolean
  /** Where to count refusals (e.g. an app's stats). Default: a new object, `guard.dropped`. */
  counters?: { sourcePort: number; rateLimited: number }
}

/**
 * What keeps a UDP service that answers every datagram (echo, daytime, time) from looping with
 * another such service or amplifying a spoofed flood: datagrams from well-known service ports are
 * refused, and each source gets a token bucket. Call `allows()` from `verifyRequest()`.
 */
export class ReflectionGuard {
  blockedSourcePorts: Set<number>
  readonly limiter: TokenBucketLimiter | undefined
  /** Datagrams refused, by reason. */
  readonly dropped: { sourcePort: number; rateLimited: number }

  constructor({
    blockedSourcePorts = WELL_KNOWN_SERVICE_PORTS,
    rateLimit = true,
    counters = { sourcePort: 0, rateLimited: 0 },
    ...limits
  }: ReflectionGuardOptions = {}) {
    this.blockedSourcePorts = new Set(blockedSourcePorts)
    this.limiter = rateLimit ? new TokenBucketLimiter(limits) : undefined
    this.dropped = counters
  }

  /** Whether to answer a datagram from `clientAddress`; counts what it refuses. */
  allows(clientAddress: InetAddress): boolean {
    if (this.blockedSourcePorts.has(clientAddress.port)) {
      this.dropped.sourcePort++
      return false
    }
    if (this.limiter && !this.limiter.take(rateLimitKey(clientAddress.address))) {
      this.dropped.rateLimited++
      return false
    }
    return true
  }
}
