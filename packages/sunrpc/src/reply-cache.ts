import type { ReplyBuffer } from './message.js'

/** Options of the datagram reply cache. */
export interface ReplyCacheOptions {
  /** Most replies kept; the oldest is evicted first. `0` turns the cache off. Default: `1024`. */
  maxEntries?: number
  /** Most reply bytes kept in all; the oldest are evicted first. Default: `4194304` (4 MiB). */
  maxBytes?: number
  /** A reply older than this, in ms, is not replayed (the call runs again). Default: `120000`. */
  ttl?: number
}

const PENDING = Symbol('pending')

interface Entry {
  reply: ReplyBuffer | typeof PENDING
  bytes: number
  at: number
}

/**
 * Replies to datagram calls, keyed by client address, xid, program, version and procedure
 * (libtirpc's `svcudp_enablecache` key). A retransmission gets the cached reply instead of a second
 * execution; one arriving while the first is still running is dropped (the first's reply answers it).
 * Bounded by entry count and bytes, evicting in insertion order (FIFO, like libtirpc's ring).
 */
export class ReplyCache {
  readonly maxEntries: number
  readonly maxBytes: number
  readonly ttl: number
  readonly #entries = new Map<string, Entry>()
  #bytes = 0

  constructor({ maxEntries = 1024, maxBytes = 4 * 1024 * 1024, ttl = 120_000 }: ReplyCacheOptions = {}) {
    this.maxEntries = maxEntries
    this.maxBytes = maxBytes
    this.ttl = ttl
  }

  get size(): number {
    return this.#entries.size
  }

  get bytes(): number {
    return this.#bytes
  }

  /** The key of a call, or `undefined` when the message is too short to have one. */
  static key(client: string, message: Buffer): string | undefined {
    if (message.length < 24) return undefined
    // xid (0-3), then prog, vers, proc (12-23): one latin1 string, no number formatting.
    return `${client}|${message.toString('latin1', 0, 4)}${message.toString('latin1', 12, 24)}`
  }

  /**
   * What to do with a call: `'run'` (not seen: it is now marked in flight), `'in-flight'` (drop it),
   * or the reply to send again.
   */
  lookup(key: string): 'run' | 'in-flight' | ReplyBuffer {
    if (this.maxEntries === 0) return 'run'
    const entry = this.#entries.get(key)
    if (entry) {
      if (entry.reply === PENDING) return 'in-flight'
      if (performance.now() - entry.at <= this.ttl) return entry.reply
      this.#delete(key, entry)
    }
    this.#entries.set(key, { reply: PENDING, bytes: 0, at: performance.now() })
    this.#evict()
    return 'run'
  }

  /** Stores the reply for a call that `lookup()` said to run. */
  store(key: string, reply: ReplyBuffer): void {
    if (this.maxEntries === 0) return
    const entry = this.#entries.get(key)
    if (!entry) return // evicted while running
    const bytes = reply.bytes.length
    if (bytes > this.maxBytes) {
      this.#delete(key, entry)
      return
    }
    entry.reply = reply
    entry.bytes = bytes
    entry.at = performance.now()
    this.#bytes += bytes
    this.#evict()
  }

  /** Forgets a call that got no reply (dropped), so a retransmission runs. */
  forget(key: string): void {
    const entry = this.#entries.get(key)
    if (entry) this.#delete(key, entry)
  }

  #delete(key: string, entry: Entry): void {
    this.#entries.delete(key)
    this.#bytes -= entry.bytes
  }

  #evict(): void {
    while (this.#entries.size > this.maxEntries || this.#bytes > this.maxBytes) {
      const oldest = this.#entries.entries().next().value
      if (!oldest) return
      this.#delete(oldest[0], oldest[1])
    }
  }
}
