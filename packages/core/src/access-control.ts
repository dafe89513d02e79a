import { BlockList, isIP } from 'node:net'
import { AccessDeniedError, InvalidArgumentError } from './errors.js'

/** Who may connect, and how often at once. */
export interface AccessControlOptions {
  /**
   * Addresses and CIDR ranges (`'10.0.0.0/8'`, `'::1'`, `'fd00::/8'`) a client must be in; an
   * empty list or none lets every address in that `deny` does not refuse. Default: `undefined` (all).
   */
  allow?: readonly string[]
  /** Addresses and CIDR ranges refused, even when `allow` lists them. Default: `[]`. */
  deny?: readonly string[]
  /** Requests from one address processed at once; past it, new ones are refused. Default: `Infinity`. */
  maxConnectionsPerAddress?: number
}

/** What `admit()` refused, by reason. */
export interface AccessControlCounters {
  /** In `deny`, or not in a non-empty `allow`. */
  denied: number
  /** Over `maxConnectionsPerAddress`. */
  limited: number
}

/**
 * Allow and deny lists of CIDR ranges (IPv4 and IPv6; an IPv4-mapped IPv6 client such as
 * `::ffff:10.1.2.3`, what a dual-stack listener reports, is matched as the IPv4 address it is) and
 * a limit of requests at once per client address.
 *
 * Give it to a server as the `accessControl` option: the server asks `admit()` before
 * `verifyRequest()` and calls `release()` when the request's processing has ended. Used by hand
 * (from a `verifyRequest()` of your own), pair every `admit()` that returned `true` with one
 * `release(request)` once the request has ended.
 *
 * A client address that is not an IP address (Unix sockets report `''`) matches no range: it is
 * admitted only without an `allow` list, and counts against the limit as one address.
 */
export class AccessControl {
  readonly maxConnectionsPerAddress: number
  readonly refused: AccessControlCounters = { denied: 0, limited: 0 }
  readonly #allow: BlockList | undefined
  readonly #deny: BlockList
  readonly #open = new Map<string, number>()
  readonly #admitted = new Map<unknown, string>()

  constructor({
    allow,
    deny = [],
    maxConnectionsPerAddress = Number.POSITIVE_INFINITY,
  }: AccessControlOptions = {}) {
    if (!(maxConnectionsPerAddress >= 1)) {
      throw new InvalidArgumentError(
        `maxConnectionsPerAddress must be at least 1; got ${maxConnectionsPerAddress}`,
      )
    }
    this.maxConnectionsPerAddress = maxConnectionsPerAddress
    this.#allow = allow && allow.length > 0 ? toBlockList(allow, 'allow') : undefined
    this.#deny = toBlockList(deny, 'deny')
  }

  /** Whether the lists let `address` in (the per-address limit aside). */
  allows(address: string): boolean {
    return this.#check(normalizeAddress(address)) === undefined
  }

  /** Requests from `address` admitted and not yet released. */
  connectionsFrom(address: string): number {
    return this.#open.get(normalizeAddress(address)) ?? 0
  }

  /**
   * Admits `request` from `clientAddress` (`{ address }` or an address string) and counts it
   * against its address until `release(request)`; returns the refusal instead when the lists or the
   * limit say no.
   */
  admit(request: unknown, clientAddress: unknown): AccessDeniedError | undefined {
    const address = normalizeAddress(addressOf(clientAddress))
    const listed = this.#check(address)
    if (listed) {
      this.refused.denied++
      return new AccessDeniedError(address, listed)
    }
    const open = this.#open.get(address) ?? 0
    if (open >= this.maxConnectionsPerAddress) {
      this.refused.limited++
      return new AccessDeniedError(address, 'limit', this.maxConnectionsPerAddress)
    }
    if (this.#admitted.has(request)) return undefined // admitted once already: counted once
    this.#open.set(address, open + 1)
    this.#admitted.set(request, address)
    return undefined
  }

  /** Ends the count of an admitted request; does nothing for one not admitted or already released. */
  release(request: unknown): void {
    const address = this.#admitted.get(request)
    if (address === undefined) return
    this.#admitted.delete(request)
    const open = (this.#open.get(address) ?? 1) - 1
    if (open > 0) this.#open.set(address, open)
    else this.#open.delete(address)
  }

  #check(address: string): 'deny' | 'allow' | undefined {
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4'
    const ip = isIP(address) !== 0
    if (ip && this.#deny.check(address, type)) return 'deny'
    if (this.#allow && !(ip && this.#allow.check(address, type))) return 'allow'
    return undefined
  }
}

/** `new AccessControl(options)`. */
export function accessControl(options: AccessControlOptions = {}): AccessControl {
  return new AccessControl(options)
}

function addressOf(clientAddress: unknown): string {
  if (typeof clientAddress === 'string') return clientAddress
  const address = (clientAddress as { address?: unknown } | null)?.address
  return typeof address === 'string' ? address : ''
}

/** `::ffff:a.b.c.d` is the IPv4 address; an IPv6 zone (`%eth0`) is dropped. */
function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]!
  const zone = address.indexOf('%')
  return zone >= 0 && isIP(address.slice(0, zone)) === 6 ? address.slice(0, zone) : address
}

/**
 * A test of whether an address is in `ranges` (addresses and CIDR ranges, as `allow` and `deny`
 * take them; IPv4-mapped IPv6 matched as IPv4). Throws `InvalidArgumentError` naming `option` for a
 * bad range. A non-IP address (a Unix client's `''`) is in no range.
 */
export function addressRanges(ranges: readonly string[], option: string): (address: string) => boolean {
  const list = toBlockList(ranges, option)
  return (raw) => {
    const address = normalizeAddress(raw)
    const family = isIP(address)
    return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4')
  }
}

function toBlockList(ranges: readonly string[], option: string): BlockList {
  const list = new BlockList()
  for (const range of ranges) {
    const [raw = '', prefixText, extra] = range.split('/')
    const address = normalizeAddress(raw)
    const family = isIP(address)
    const max = family === 6 ? 128 : 32
    // A mapped range (::ffff:10.0.0.0/104) is the IPv4 range it maps.
    const mappedShift = address !== raw && family === 4 ? 96 : 0
    const prefix =
      prefixText === undefined
        ? max
        : /^\d+$/.test(prefixText)
          ? Number(prefixText) - mappedShift
          : Number.NaN
    if (family === 0 || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      throw new InvalidArgumentError(
        `${option}: ${JSON.stringify(range)} is not an IP address or CIDR range (e.g. '10.0.0.0/8', 'fd00::/8')`,
      )
    }
    list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4')
  }
  return list
}
