import type net from 'node:net'
import { addressRanges } from '../access-control.js'
import { InvalidArgumentError, ProxyTimeoutError, ProxyUntrustedError } from '../errors.js'
import { check, type OptionSpec } from '../options.js'
import type { ConnectionStage, StageCallback } from '../transport.js'
import { type ProxyHeader, ProxyHeaderParser, type ProxyParse, parseProxyHeader } from './parser.js'

/** The `proxyProtocol` option of stream servers, as an object. */
export interface ProxyProtocolOptions {
  /** The versions accepted; a header of another is refused. Default: `[1, 2]`. */
  versions?: readonly (1 | 2)[]
  /**
   * Addresses and CIDR ranges (as `accessControl` takes them) a header is accepted from; a
   * connection from elsewhere is handled by `untrusted`. Default: every address (each connection
   * must then start with a header). Not for Unix servers (peers have no address: use file modes).
   */
  trustedProxies?: readonly string[]
  /** How long the header may take to arrive, in ms; `null`: no limit. Default: `3000` (the spec's advice). */
  headerTimeout?: number | null
  /**
   * A connection from outside `trustedProxies`: `'refuse'` it (`SOCKSRV_PROXY_UNTRUSTED`), or serve it
   * as `'direct'` (no header read; its bytes are the payload). Default: `'refuse'`.
   */
  untrusted?: 'refuse' | 'direct'
}

/** `true` (every version, every address, 3 s), `false` (off), or the details. */
export type ProxyProtocolSetting = boolean | ProxyProtocolOptions

/** What a handler learns of a proxied connection: the header, and the proxy's own address. */
export interface ProxyInfo<ClientAddress = unknown> extends ProxyHeader {
  /** The address the connection really came from: the proxy (what `clientAddress` would have been). */
  readonly proxyAddress: ClientAddress
}

export const DEFAULT_HEADER_TIMEOUT = 3_000
const KEYS = ['versions', 'trustedProxies', 'headerTimeout', 'untrusted']
const EXPECTED =
  "true, false or { versions?: (1 | 2)[], trustedProxies?: string[], headerTimeout?: ms | null, untrusted?: 'refuse' | 'direct' }"

/** The one declaration of the `proxyProtocol` option, in each stream server's option table. */
export const proxyProtocolOption: OptionSpec = {
  default: false,
  check(value) {
    if (typeof value === 'boolean') return undefined
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return EXPECTED
    const options = value as Record<string, unknown>
    if (Object.keys(options).some((key) => !KEYS.includes(key))) return EXPECTED
    const { versions, trustedProxies, headerTimeout, untrusted } = options
    if (
      versions !== undefined &&
      !(Array.isArray(versions) && versions.length > 0 && versions.every((v) => v === 1 || v === 2))
    )
      return `${EXPECTED}, with versions a non-empty list of 1 and 2`
    if (trustedProxies !== undefined) {
      if (check.stringArray(trustedProxies)) return `${EXPECTED}, with trustedProxies an array of strings`
      try {
        addressRanges(trustedProxies as string[], 'trustedProxies')
      } catch (error) {
        return `${EXPECTED}: ${(error as Error).message}`
      }
    }
    if (headerTimeout !== undefined && check.ms({ nullable: true })(headerTimeout)) {
      return `${EXPECTED}, with headerTimeout a duration in ms or null`
    }
    if (untrusted !== undefined && check.oneOf('refuse', 'direct')(untrusted)) {
      return `${EXPECTED}, with untrusted 'refuse' or 'direct'`
    }
    return undefined
  },
}

/** Throws for a `proxyProtocol` a server of `addressKind` cannot honour (for its `checkOptions()`). */
export function checkProxyProtocol(setting: ProxyProtocolSetting, addressKind: 'inet' | 'unix'): void {
  if (addressKind === 'unix' && typeof setting === 'object' && setting.trustedProxies !== undefined) {
    throw new InvalidArgumentError(
      'proxyProtocol.trustedProxies does not apply to a Unix socket (its peers have no address): limit who may connect with the socket file’s permissions',
    )
  }
}

// On the connection's socket: its header read while under way, then the info. A property, not a
// WeakMap: a closed socket outlives the next scavenge (Node's handle holds it), and with it the
// entries of an ephemeron table, which grows and is rehashed with every connection in between.
const kProxy = Symbol('socketserver.proxy')
type Holder = { [kProxy]?: ProxyInfo | HeaderRead<unknown> }

/**
 * The PROXY protocol header `request` (a connection's socket) arrived with, and the proxy's own
 * address; `undefined` when the server reads no header, or served this connection as direct.
 */
export function proxyInfo<ClientAddress = unknown>(request: object): ProxyInfo<ClientAddress> | undefined {
  const held = (request as Holder)[kProxy]
  return held instanceof HeaderRead ? undefined : (held as ProxyInfo<ClientAddress> | undefined)
}

/** Records `info` for `request` (a pool that moved the connection to another thread or process). */
export function setProxyInfo(request: object, info: ProxyInfo): void {
  ;(request as Holder)[kProxy] = info
}

/**
 * The connection stage that reads a PROXY protocol header (see `proxyProtocol`), or `undefined` when
 * the setting is off. `clientAddressOf` turns the header's source into the server's client
 * address (it is not called for LOCAL and unspec headers: the connection's own stands);
 * `addressOf` gives the IP address `trustedProxies` is checked against.
 */
export function proxyProtocolStage<ClientAddress>(
  setting: ProxyProtocolSetting,
  clientAddressOf: (header: ProxyHeader, original: ClientAddress) => ClientAddress,
  addressOf: (clientAddress: ClientAddress) => string,
): ConnectionStage<net.Socket, ClientAddress> | undefined {
  if (setting === false) return undefined
  const options = setting === true ? {} : setting
  const versions = options.versions ?? [1, 2]
  const trusted = options.trustedProxies && addressRanges(options.trustedProxies, 'trustedProxies')
  const direct = options.untrusted === 'direct'
  const reads = new HeaderReads<ClientAddress>(
    versions,
    options.headerTimeout === undefined ? DEFAULT_HEADER_TIMEOUT : options.headerTimeout,
    clientAddressOf,
  )
  return {
    name: 'proxy',
    admit(socket, original, later) {
      if (trusted && !trusted(addressOf(original))) {
        if (direct) return [socket, original]
        throw new ProxyUntrustedError(addressOf(original))
      }
      reads.read(socket, original, later)
      return undefined
    },
  }
}

/**
 * A connection reading its header: the parser, whom to answer, and its place in the stage's list
 * of pending reads (one object per connection).
 */
class HeaderRead<ClientAddress> extends ProxyHeaderParser {
  prev: HeaderRead<ClientAddress> | undefined
  next: HeaderRead<ClientAddress> | undefined

  constructor(
    readonly socket: net.Socket,
    versions: readonly (1 | 2)[],
    readonly original: ClientAddress,
    readonly later: StageCallback<net.Socket, ClientAddress>,
    /** When it is cut (`performance.now()`), `Infinity` without `headerTimeout`. */
    readonly deadline: number,
  ) {
    super(versions)
  }
}

/**
 * The connections of one stage still reading their header. Every socket shares the same
 * listeners (`this` is the socket) and one timer sweeps them all: per-connection closures,
 * `once()` wrappers and timers would cost more than parsing the header (the bench's
 * proxy-connect scenario). A connection is cut between `ms` and 1.25 × `ms` after it started.
 */
class HeaderReads<ClientAddress> {
  // The pending reads, newest first: linked through the reads themselves (no table to grow).
  #first: HeaderRead<ClientAddress> | undefined
  readonly #onData: (this: net.Socket, chunk: Buffer) => void
  readonly #onEnd: (this: net.Socket) => void
  #timer: NodeJS.Timeout | undefined

  constructor(
    readonly versions: readonly (1 | 2)[],
    readonly ms: number | null,
    readonly clientAddressOf: (header: ProxyHeader, original: ClientAddress) => ClientAddress,
  ) {
    const reads = this
    this.#onData = function (chunk) {
      reads.#data(this, chunk)
    }
    this.#onEnd = function () {
      reads.#end(this)
    }
  }

  /**
   * Reads a PROXY header off `socket` and puts back the bytes read after it, so the socket is
   * left as it was accepted (`readableFlowing` null) with the payload first in line; then answers
   * through `later`, in the 'data' event that completed the header (no promise, no microtask).
   */
  read(socket: net.Socket, original: ClientAddress, later: StageCallback<net.Socket, ClientAddress>): void {
    const { ms } = this
    const read = new HeaderRead(
      socket,
      this.versions,
      original,
      later,
      ms === null ? Number.POSITIVE_INFINITY : performance.now() + ms,
    )
    ;(socket as Holder)[kProxy] = read as HeaderRead<unknown>
    read.next = this.#first
    if (read.next) read.next.prev = read
    this.#first = read
    if (ms !== null) {
      this.#timer ??= setInterval(() => this.#sweep(), Math.max(1, ms / 4)).unref()
    }
    // 'data' (not 'readable'/read()): chunks come straight from the socket, no tick in between.
    // Flowing set first, then read(0) starts the handle at once: on('data') would resume() the
    // socket, a tick later (a pool's server accepts paused: readableFlowing false, started too).
    ;(socket as { readableFlowing: boolean | null }).readableFlowing = true
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('close', this.#onEnd)
    socket.read(0)
  }

  /** The read under way on `socket`, if any. */
  #pending(socket: net.Socket): HeaderRead<ClientAddress> | undefined {
    const held = (socket as Holder)[kProxy]
    return held instanceof HeaderRead ? (held as HeaderRead<ClientAddress>) : undefined
  }

  #unlink(read: HeaderRead<ClientAddress>): void {
    if (read.prev) read.prev.next = read.next
    else this.#first = read.next
    if (read.next) read.next.prev = read.prev
    read.prev = read.next = undefined
  }

  #data(socket: net.Socket, chunk: Buffer): void {
    const read = this.#pending(socket)
    if (!read) return
    let parsed: ProxyParse | undefined
    try {
      parsed = read.push(chunk)
    } catch (error) {
      this.#fail(socket, read, error)
      return
    }
    if (!parsed) return
    // 'end' and 'close' stay: removing them costs more than the call each makes, later, to find
    // nothing pending. 'data' must go (a 'data' listener changes how the socket flows).
    this.#unlink(read)
    socket.off('data', this.#onData)
    // Back to "no reader yet", as accepted: the handler's first 'data' listener or read() starts
    // the flow (Node's setter, which its types leave out). No pause(): flowing null stops the
    // 'data' events just as well, without pause's event.
    ;(socket as { readableFlowing: boolean | null }).readableFlowing = null
    if (parsed.rest.length > 0) socket.unshift(parsed.rest)
    const { header } = parsed
    // The header object becomes the info: one property more, no copy.
    ;(header as { proxyAddress?: ClientAddress }).proxyAddress = read.original
    ;(socket as Holder)[kProxy] = header as ProxyInfo
    read.later.admitted(
      socket,
      socket,
      header.source ? this.clientAddressOf(header, read.original) : read.original,
    )
  }

  #end(socket: net.Socket): void {
    const read = this.#pending(socket)
    if (!read) return
    try {
      read.end()
    } catch (error) {
      this.#fail(socket, read, error)
    }
  }

  #fail(socket: net.Socket, read: HeaderRead<ClientAddress>, error: unknown): void {
    this.#unlink(read)
    ;(socket as Holder)[kProxy] = undefined
    socket.off('data', this.#onData)
    socket.pause()
    read.later.refused(socket, read.original, error)
  }

  #sweep(): void {
    const now = performance.now()
    for (let read = this.#first; read; ) {
      const { next } = read // #fail unlinks it
      if (read.deadline <= now) this.#fail(read.socket, read, new ProxyTimeoutError(this.ms ?? 0))
      read = next
    }
    if (this.#first === undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }
}

// --- moving a connection to a worker thread or child process --------------------------------------

/** What a connection carries to another thread or process besides its descriptor. */
export interface ConnectionHandoff {
  /** Bytes read here and not yet consumed (the payload after a PROXY header). */
  head?: Uint8Array
  /** The PROXY header, re-parsed on the other side, and the proxy's address. */
  proxy?: { header: Uint8Array; proxyAddress: unknown }
}

/**
 * What must travel with `socket` to another thread or process (`undefined`: nothing). With
 * `movingHandle` (the descriptor itself moves), the bytes read here but not consumed are taken and
 * the socket stops reading, so none is read here and lost after the move.
 */
export function connectionHandoff(socket: net.Socket, movingHandle: boolean): ConnectionHandoff | undefined {
  const info = proxyInfo(socket)
  let head: Buffer | undefined
  if (movingHandle) {
    if (socket.readableLength > 0) head = socket.read() as Buffer
    // Node has no public way to stop a socket's reads once started (pause() does not reach the
    // handle): without this, what arrives before the move is read here and dropped.
    const handle = (socket as unknown as { _handle?: { reading?: boolean; readStop?: () => number } })._handle
    if (handle?.reading) {
      handle.reading = false
      handle.readStop?.()
    }
  }
  if (!info && !head) return undefined
  return {
    ...(head && { head }),
    ...(info && { proxy: { header: info.raw, proxyAddress: info.proxyAddress } }),
  }
}

/** Restores on the receiving side what `connectionHandoff()` carried: the head first in line, the proxy info. */
export function receiveHandoff(request: object, handoff: ConnectionHandoff | undefined): void {
  if (!handoff) return
  const { head, proxy } = handoff
  if (head && head.length > 0) {
    ;(request as net.Socket).unshift(Buffer.from(head.buffer, head.byteOffset, head.byteLength))
  }
  if (proxy) {
    const raw = Buffer.from(proxy.header.buffer, proxy.header.byteOffset, proxy.header.byteLength)
    setProxyInfo(request, { ...parseProxyHeader(raw).header, proxyAddress: proxy.proxyAddress })
  }
}
