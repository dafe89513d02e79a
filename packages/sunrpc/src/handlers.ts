import type { InetAddress } from '@socketserver/core'
import { DatagramRequestHandler, StreamRequestHandler } from '@socketserver/stream-handlers'
import { RecordTooLargeError, RpcProtocolError } from './errors.js'
import type { ReplyBuffer } from './message.js'
import { dispatchCall, programMap, type RpcProgram } from './program.js'
import { ReplyCache, type ReplyCacheOptions } from './reply-cache.js'

const EMPTY = Buffer.alloc(0)
const LAST_FRAGMENT = 0x80000000

/** Default `maxRecordSize`: 1 MiB. */
export const DEFAULT_MAX_RECORD_SIZE = 1024 * 1024
/** Default `maxFragments`: 64. */
export const DEFAULT_MAX_FRAGMENTS = 64

/** A record-marking reader's source: what `rfile` offers. */
interface ByteSource {
  read(n: number): Promise<Buffer>
}

/**
 * Reads one record (RFC 5531 section 11): fragments of a 4-byte mark (high bit: last fragment; low
 * 31 bits: length) and that many bytes. Every mark is checked against `maxRecordSize` (the record's
 * total) and `maxFragments` before its bytes are read, so a mark claiming 2 GB buffers nothing.
 * Resolves with `null` at end of stream (also in the middle of a record: the peer left).
 */
export async function readRecord(
  source: ByteSource,
  maxRecordSize = DEFAULT_MAX_RECORD_SIZE,
  maxFragments = DEFAULT_MAX_FRAGMENTS,
): Promise<Buffer | null> {
  let first: Buffer | undefined
  let rest: Buffer[] | undefined
  let total = 0
  for (let fragments = 1; ; fragments++) {
    const head = await source.read(4)
    if (head.length < 4) return null
    const mark = head.readUInt32BE(0)
    const length = mark & 0x7fffffff
    if (fragments > maxFragments) throw new RecordTooLargeError(fragments, maxFragments, true)
    if (total + length > maxRecordSize) throw new RecordTooLargeError(total + length, maxRecordSize)
    const body = length === 0 ? EMPTY : await source.read(length)
    if (body.length < length) return null
    total += length
    if (first === undefined) first = body
    else (rest ??= []).push(body)
    if ((mark & LAST_FRAGMENT) !== 0) return rest ? Buffer.concat([first, ...rest], total) : first
  }
}

/** Splits a message into stream records of at most `maxFragment` bytes per fragment. */
export function frameRecord(message: Buffer, maxFragment = 0x7fffffff): Buffer {
  if (message.length <= maxFragment) {
    const out = Buffer.allocUnsafe(4 + message.length)
    out.writeUInt32BE((LAST_FRAGMENT | message.length) >>> 0, 0)
    message.copy(out, 4)
    return out
  }
  const parts: Buffer[] = []
  for (let at = 0; at < message.length; at += maxFragment) {
    const piece = message.subarray(at, at + maxFragment)
    const mark = Buffer.allocUnsafe(4)
    mark.writeUInt32BE(((at + maxFragment >= message.length ? LAST_FRAGMENT : 0) | piece.length) >>> 0, 0)
    parts.push(mark, piece)
  }
  return Buffer.concat(parts)
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

/**
 * The RPC request handler for stream servers (TCP, Unix stream; every concurrency mode): reads
 * record-marked calls from `rfile` one after another and writes each reply as one record. Set
 * `programs` in a subclass, or use `rpcStreamHandler(programs)`.
 */
export class RpcStreamHandler<ClientAddress = unknown, Server = unknown> extends StreamRequestHandler<
  ClientAddress,
  Server
> {
  /** The programs this handler serves. */
  declare programs: ReadonlyMap<number, RpcProgram>
  /** Largest record (a call, all its fragments), in bytes; a mark that would cross it closes the connection with `RecordTooLargeError`. Default: `1048576`. */
  declare maxRecordSize: number
  /** Most fragments in one record; one more closes the connection with `RecordTooLargeError`. Default: `64`. */
  declare maxFragments: number
  /** Deepest nesting of optional data and recursive types in arguments. Default: `256`. */
  declare maxDepth: number

  static {
    const proto = RpcStreamHandler.prototype
    proto.programs = new Map()
    proto.maxRecordSize = DEFAULT_MAX_RECORD_SIZE
    proto.maxFragments = DEFAULT_MAX_FRAGMENTS
    proto.maxDepth = 256
  }

  override async handle(): Promise<void> {
    const options = { maxLength: this.maxRecordSize, maxDepth: this.maxDepth }
    for (;;) {
      const record = await readRecord(this.rfile, this.maxRecordSize, this.maxFragments)
      if (record === null) return
      let reply: ReplyBuffer | Promise<ReplyBuffer>
      try {
        reply = dispatchCall(this.programs, record, this.clientAddress, 'stream', options)
      } catch (error) {
        // No reply possible (libtirpc skips such a record too); the stream is still in step.
        if (error instanceof RpcProtocolError) continue
        throw error
      }
      await this.wfile.write((isPromise(reply) ? await reply : reply).frame())
    }
  }
}

const caches = new WeakMap<object, ReplyCache>()

/**
 * The RPC request handler for datagram servers (UDP, Unix datagram; every concurrency mode): one
 * call per datagram, one reply datagram. Retransmissions (same client, xid, program, version and
 * procedure) are answered from a reply cache of this process (`replyCache`), not run again.
 */
export class RpcDatagramHandler<ClientAddress = InetAddress, Server = unknown> extends DatagramRequestHandler<
  ClientAddress,
  Server
> {
  declare programs: ReadonlyMap<number, RpcProgram>
  /** The reply cache's bounds (one cache per handler class and process); `{ maxEntries: 0 }` turns it off. Default: `{ maxEntries: 1024, maxBytes: 4194304, ttl: 120000 }`. */
  declare replyCache: ReplyCacheOptions
  declare maxDepth: number

  static {
    const proto = RpcDatagramHandler.prototype
    proto.programs = new Map()
    proto.replyCache = {}
    proto.maxDepth = 256
  }

  /** This class's reply cache in this process. */
  static cache(this: typeof RpcDatagramHandler): ReplyCache {
    let cache = caches.get(this)
    if (!cache) caches.set(this, (cache = new ReplyCache(this.prototype.replyCache)))
    return cache
  }

  override handle(): Promise<void> | undefined {
    const packet = this.packet
    const cache = (this.constructor as typeof RpcDatagramHandler).cache()
    const client = clientKey(this.clientAddress)
    const key = client === undefined ? undefined : ReplyCache.key(client, packet)
    if (key !== undefined) {
      const seen = cache.lookup(key)
      if (seen !== 'run') {
        const stats = this.#statsFor(packet)
        if (seen === 'in-flight') {
          if (stats) stats.cacheInFlight++
          return undefined
        }
        if (stats) stats.cacheHits++
        return this.wfile.write(seen.body())
      }
    }
    let reply: ReplyBuffer | Promise<ReplyBuffer>
    try {
      reply = dispatchCall(this.programs, packet, this.clientAddress, 'datagram', {
        maxLength: packet.length,
        maxDepth: this.maxDepth,
      })
    } catch (error) {
      if (key !== undefined) cache.forget(key)
      if (error instanceof RpcProtocolError) return undefined // dropped, as libtirpc does
      throw error
    }
    if (isPromise(reply)) {
      return reply.then(
        (r) => this.#send(cache, key, r),
        (error: unknown) => {
          if (key !== undefined) cache.forget(key)
          throw error
        },
      )
    }
    return this.#send(cache, key, reply)
  }

  #send(cache: ReplyCache, key: string | undefined, reply: ReplyBuffer): Promise<void> {
    if (key !== undefined) cache.store(key, reply)
    return this.wfile.write(reply.body())
  }

  #statsFor(packet: Buffer) {
    const prog = packet.readUInt32BE(12)
    return (this.programs.get(prog) ?? (this.programs.values().next().value as RpcProgram | undefined))?.stats
  }
}

function clientKey(address: unknown): string | undefined {
  if (typeof address === 'string') return address === '' ? undefined : address
  if (address && typeof address === 'object' && 'port' in address) {
    const a = address as InetAddress
    return `${a.address}:${a.port}`
  }
  return undefined
}

/** Options of `rpcStreamHandler()` and `rpcDatagramHandler()`. */
export interface RpcHandlerOptions {
  maxRecordSize?: number
  maxFragments?: number
  maxDepth?: number
  /** Stream only: close a connection idle this long, in ms (`StreamRequestHandler.idleTimeout`). Default: `null` (never, as libtirpc). */
  idleTimeout?: number | null
  /** Datagram only. */
  replyCache?: ReplyCacheOptions
}

/**
 * A stream handler class serving `programs`. Export it from a module (`export class KvTcp extends
 * rpcStreamHandler(kv) {}`) to use it in the thread and fork modes.
 */
export function rpcStreamHandler(
  programs: RpcProgram | readonly RpcProgram[],
  options: RpcHandlerOptions = {},
): typeof RpcStreamHandler<unknown, unknown> {
  const map = programMap(programs)
  return class extends RpcStreamHandler {
    static {
      const proto = this.prototype
      proto.programs = map
      if (options.maxRecordSize !== undefined) proto.maxRecordSize = options.maxRecordSize
      if (options.maxFragments !== undefined) proto.maxFragments = options.maxFragments
      if (options.maxDepth !== undefined) proto.maxDepth = options.maxDepth
      if (options.idleTimeout !== undefined) proto.idleTimeout = options.idleTimeout
    }
  }
}

/** A datagram handler class serving `programs`, with its own reply cache. */
export function rpcDatagramHandler(
  programs: RpcProgram | readonly RpcProgram[],
  options: RpcHandlerOptions = {},
): typeof RpcDatagramHandler<InetAddress, unknown> {
  const map = programMap(programs)
  return class extends RpcDatagramHandler {
    static {
      const proto = this.prototype
      proto.programs = map
      if (options.replyCache !== undefined) proto.replyCache = options.replyCache
      if (options.maxDepth !== undefined) proto.maxDepth = options.maxDepth
    }
  }
}
