import { isIPv6 } from 'node:net'
import { ProxyChecksumError, ProxyHeaderError } from '../errors.js'
import { crc32c } from './crc32c.js'

/** An endpoint a PROXY header names: an IP address and port, or a Unix socket path (v2 `AF_UNIX`). */
export type ProxyEndpoint = { readonly address: string; readonly port: number } | { readonly path: string }

/** One v2 TLV, its value as received. */
export interface ProxyTLV {
  readonly type: number
  readonly value: Buffer
}

/** The v2 `PP2_TYPE_SSL` TLV: how the client reached the proxy over TLS. */
export interface ProxySSL {
  /** Bit field: `0x01` TLS, `0x02` certificate on this connection, `0x04` certificate in the session. */
  readonly client: number
  /** `0` when the client presented a certificate and it verified. */
  readonly verify: number
  readonly version?: string
  /** The client certificate's Common Name. */
  readonly cn?: string
  readonly cipher?: string
  readonly sigAlg?: string
  readonly keyAlg?: string
  /** Every sub-TLV in order, the named ones above included. */
  readonly tlvs: readonly ProxyTLV[]
}

/** A parsed PROXY protocol header (v1 or v2). */
export interface ProxyHeader {
  readonly version: 1 | 2
  /** `'LOCAL'` (v2 only; a health check by the proxy itself): the connection's own endpoints stand. */
  readonly command: 'PROXY' | 'LOCAL'
  /** `'unspec'`: v1 `UNKNOWN` or v2 `AF_UNSPEC`; the connection's own endpoints stand. */
  readonly family: 'IPv4' | 'IPv6' | 'Unix' | 'unspec'
  readonly transport: 'stream' | 'dgram' | 'unspec'
  /** The original client; `undefined` for LOCAL and unspec. */
  readonly source: ProxyEndpoint | undefined
  /** The address the client connected to (on the proxy); `undefined` for LOCAL and unspec. */
  readonly destination: ProxyEndpoint | undefined
  /** Every TLV in order, duplicates kept (v2; empty for v1). */
  readonly tlvs: readonly ProxyTLV[]
  /** The first of each known TLV, decoded. */
  readonly alpn?: string
  readonly authority?: string
  /** The verified checksum (a mismatch refuses the connection). */
  readonly crc32c?: number
  readonly uniqueId?: Buffer
  readonly ssl?: ProxySSL
  readonly netns?: string
  /** TLVs of the application range (`0xE0`-`0xEF`), raw. */
  readonly application: readonly ProxyTLV[]
  /** The header's bytes as received. */
  readonly raw: Buffer
}

/** The header and the bytes that came after it in the same reads (the start of the payload). */
export interface ProxyParse {
  readonly header: ProxyHeader
  readonly rest: Buffer
}

export const PP2_TYPE = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  SSL_VERSION: 0x21,
  SSL_CN: 0x22,
  SSL_CIPHER: 0x23,
  SSL_SIG_ALG: 0x24,
  SSL_KEY_ALG: 0x25,
  NETNS: 0x30,
} as const

/** The 12 bytes every v2 header starts with. */
export const PROXY_V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
])
const V1_PREFIX = Buffer.from('PROXY ')
/** The longest v1 line, CRLF included (the spec's 107). */
export const PROXY_V1_MAX = 107
const V2_FIXED = 16
const UNIQUE_ID_MAX = 128
// Family/transport bytes the spec defines; any other "must be rejected as invalid by receivers".
const V2_FAMILIES: Readonly<
  Record<number, readonly [ProxyHeader['family'], ProxyHeader['transport'], number]>
> = {
  0: ['unspec', 'unspec', 0],
  17: ['IPv4', 'stream', 12],
  18: ['IPv4', 'dgram', 12],
  33: ['IPv6', 'stream', 36],
  34: ['IPv6', 'dgram', 36],
  49: ['Unix', 'stream', 216],
  50: ['Unix', 'dgram', 216],
}
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const PORT = /^(?:0|[1-9]\d{0,4})$/
const PRINTABLE = /^[\x21-\x7e]+$/
const ZERO4 = new Uint8Array(4)
// The TLV lists of a header that has none: one frozen array, not two new ones per connection.
const NO_TLVS: readonly ProxyTLV[] = Object.freeze([])

/**
 * An incremental PROXY protocol reader: feed it what the connection reads, in any pieces; it
 * answers `undefined` until the header is complete, then the header and the bytes after it. It
 * throws `ProxyHeaderError` (with a `reason`) or `ProxyChecksumError` as soon as the bytes seen
 * cannot start a valid header, without waiting for more. It buffers at most the header (v1: 107
 * bytes; v2: 16 + its declared length, at most 65 551).
 */
export class ProxyHeaderParser {
  readonly #v1: boolean
  readonly #v2: boolean
  /** What was fed so far: one buffer (most headers come whole, in the first chunk) ... */
  #bytes: Buffer | undefined
  /** ... or, while more are needed, the pieces, joined once there are enough. */
  #pieces: Buffer[] | undefined
  #size = 0
  /** Bytes needed before parsing again is worth it. */
  #need = 1

  constructor(versions: readonly (1 | 2)[] = [1, 2]) {
    this.#v1 = versions.includes(1)
    this.#v2 = versions.includes(2)
  }

  push(chunk: Buffer): ProxyParse | undefined {
    if (chunk.length === 0) return undefined
    this.#size += chunk.length
    if (this.#bytes === undefined) this.#bytes = chunk
    else (this.#pieces ??= [this.#bytes]).push(chunk)
    if (this.#size < this.#need) return undefined
    if (this.#pieces) {
      this.#bytes = Buffer.concat(this.#pieces, this.#size)
      this.#pieces = undefined
    }
    const bytes = this.#bytes
    return bytes[0] === 0x50 ? this.#parseV1(bytes) : this.#parseV2(bytes)
  }

  /** The connection ended: what was fed is a truncated header (or nothing). */
  end(): never {
    throw new ProxyHeaderError('truncated', `the connection ended after ${this.#size} byte(s) of the header`)
  }

  #parseV1(bytes: Buffer): ProxyParse | undefined {
    expectPrefix(bytes, V1_PREFIX)
    if (!this.#v1) throw new ProxyHeaderError('version', 'a v1 header, and this server accepts v2 only')
    const lf = bytes.subarray(0, PROXY_V1_MAX).indexOf(0x0a)
    if (lf < 0) {
      if (bytes.length >= PROXY_V1_MAX)
        throw new ProxyHeaderError('too-long', `no CRLF within ${PROXY_V1_MAX} bytes`)
      this.#need = bytes.length + 1
      return undefined
    }
    if (bytes[lf - 1] !== 0x0d) throw new ProxyHeaderError('syntax', 'the line ends in LF without CR')
    const raw = copyOf(bytes, lf + 1)
    return { header: parseV1Line(raw.toString('latin1', 0, lf - 1), raw), rest: bytes.subarray(lf + 1) }
  }

  #parseV2(bytes: Buffer): ProxyParse | undefined {
    expectPrefix(bytes, PROXY_V2_SIGNATURE)
    if (!this.#v2) throw new ProxyHeaderError('version', 'a v2 header, and this server accepts v1 only')
    if (bytes.length < V2_FIXED) {
      this.#need = V2_FIXED
      return undefined
    }
    const version = bytes[12]! >> 4
    const command = bytes[12]! & 0x0f
    if (version !== 2) throw new ProxyHeaderError('version', `v2 signature with version nibble ${version}`)
    if (command > 1)
      throw new ProxyHeaderError('command', `command ${command} (only LOCAL 0 and PROXY 1 exist)`)
    const family = V2_FAMILIES[bytes[13]!]
    if (family === undefined)
      throw new ProxyHeaderError(
        'family',
        `family/transport byte 0x${bytes[13]!.toString(16).padStart(2, '0')}`,
      )
    const length = (bytes[14]! << 8) | bytes[15]!
    const total = V2_FIXED + length
    if (bytes.length < total) {
      this.#need = total
      return undefined
    }
    const name = family[0]
    const block = family[2]
    if (length < block)
      throw new ProxyHeaderError(
        'length',
        `length ${length} is shorter than the ${name} address block (${block})`,
      )
    const raw = copyOf(bytes, total)
    const local = command === 0
    const header = withTLVs(
      {
        version: 2,
        command: local ? 'LOCAL' : 'PROXY',
        family: name,
        transport: family[1],
        source: local ? undefined : v2Endpoint(raw, name, 0),
        destination: local ? undefined : v2Endpoint(raw, name, 1),
        tlvs: NO_TLVS,
        application: NO_TLVS,
        raw,
      },
      V2_FIXED + block,
    )
    return { header, rest: bytes.subarray(total) }
  }
}

/**
 * The header's first `length` bytes, copied: the header outlives the read that brought it (and
 * the payload after it). A loop: headers are short, and this is a byte array's one allocation.
 */
function copyOf(bytes: Buffer, length: number): Buffer {
  const copy = Buffer.allocUnsafe(length)
  for (let i = 0; i < length; i++) copy[i] = bytes[i]!
  return copy
}

/** Parses one whole header at the start of `bytes` (a header cut short is `'truncated'`). */
export function parseProxyHeader(bytes: Buffer, versions?: readonly (1 | 2)[]): ProxyParse {
  const parser = new ProxyHeaderParser(versions)
  return parser.push(bytes) ?? parser.end()
}

function expectPrefix(bytes: Buffer, prefix: Buffer): void {
  // A loop, not compare(): 12 bytes cost less than a call into C++.
  const n = Math.min(bytes.length, prefix.length)
  for (let i = 0; i < n; i++) {
    if (bytes[i] !== prefix[i])
      throw new ProxyHeaderError('signature', 'neither a v1 "PROXY " line nor the v2 signature')
  }
}

function parseV1Line(line: string, raw: Buffer): ProxyHeader {
  const parts = line.split(' ')
  const proto = parts[1]
  const base = { version: 1, command: 'PROXY', tlvs: NO_TLVS, application: NO_TLVS, raw } as const
  // "the receiver must ignore anything presented before the CRLF is found" after UNKNOWN
  if (proto === 'UNKNOWN')
    return { ...base, family: 'unspec', transport: 'unspec', source: undefined, destination: undefined }
  if (proto !== 'TCP4' && proto !== 'TCP6')
    throw new ProxyHeaderError('syntax', `protocol ${JSON.stringify(proto ?? '')}`)
  if (parts.length !== 6 || !parts.every((part) => PRINTABLE.test(part))) {
    throw new ProxyHeaderError('syntax', 'not "PROXY TCPn SRC DST SPORT DPORT" with single spaces')
  }
  const [, , src, dst, sport, dport] = parts as [string, string, string, string, string, string]
  const v4 = proto === 'TCP4'
  for (const address of [src, dst]) {
    if (v4 ? !IPV4.test(address) : !isIPv6(address) || address.includes('%')) {
      throw new ProxyHeaderError(
        'address',
        `${JSON.stringify(address)} is not an ${v4 ? 'IPv4' : 'IPv6'} address`,
      )
    }
  }
  return {
    ...base,
    family: v4 ? 'IPv4' : 'IPv6',
    transport: 'stream',
    source: { address: src, port: v1Port(sport) },
    destination: { address: dst, port: v1Port(dport) },
  }
}

function v1Port(text: string): number {
  const port = Number(text)
  if (!PORT.test(text) || port > 65_535)
    throw new ProxyHeaderError('port', `${JSON.stringify(text)} is not a port`)
  return port
}

/** The source (`which` 0) or destination (1) of a v2 address block. */
function v2Endpoint(raw: Buffer, family: ProxyHeader['family'], which: 0 | 1): ProxyEndpoint | undefined {
  const at = V2_FIXED
  switch (family) {
    case 'IPv4':
      return {
        address: ipv4(raw, at + 4 * which),
        port: (raw[at + 8 + 2 * which]! << 8) | raw[at + 9 + 2 * which]!,
      }
    case 'IPv6':
      return { address: ipv6(raw, at + 16 * which), port: raw.readUInt16BE(at + 32 + 2 * which) }
    case 'Unix':
      return { path: unixPath(raw, at + 108 * which) }
    default:
      return undefined
  }
}

// '0.' to '255.': an IPv4 address is three of them and a number, three string additions.
const DOTTED = Array.from({ length: 256 }, (_, byte) => `${byte}.`)
const DECIMAL = Array.from({ length: 256 }, (_, byte) => `${byte}`)

function ipv4(raw: Buffer, at: number): string {
  return DOTTED[raw[at]!]! + DOTTED[raw[at + 1]!]! + DOTTED[raw[at + 2]!]! + DECIMAL[raw[at + 3]!]!
}

/** RFC 5952 text (as Node reports addresses): lowercase, longest zero run as `::`, mapped IPv4 dotted. */
function ipv6(raw: Buffer, at: number): string {
  const groups: number[] = []
  for (let i = 0; i < 8; i++) groups.push(raw.readUInt16BE(at + i * 2))
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${ipv4(raw, at + 12)}`
  let best = -1
  let bestLength = 1 // a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) [best, bestLength] = [i, j - i]
    i = j === i ? i + 1 : j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best < 0) return hex.join(':')
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`
}

/** A NUL-padded `sun_path`; an abstract name (leading NUL) keeps its NUL, as Node shows it. */
function unixPath(raw: Buffer, at: number): string {
  const field = raw.subarray(at, at + 108)
  if (field[0] === 0) {
    const end = field.indexOf(0, 1)
    return end === 1 ? '' : `\0${field.toString('utf8', 1, end < 0 ? 108 : end)}`
  }
  const end = field.indexOf(0)
  return field.toString('utf8', 0, end < 0 ? 108 : end)
}

/** Splits `raw[from, to)` into TLVs; one whose header or value runs past `to` is refused. */
function splitTLVs(raw: Buffer, from: number, to: number, what: string): ProxyTLV[] {
  const tlvs: ProxyTLV[] = []
  for (let at = from; at < to; ) {
    if (at + 3 > to) throw new ProxyHeaderError('tlv', `a ${what} header runs past the end at byte ${at}`)
    const length = raw.readUInt16BE(at + 1)
    if (at + 3 + length > to) {
      throw new ProxyHeaderError(
        'tlv',
        `${what} 0x${raw[at]!.toString(16)} of length ${length} runs past the end`,
      )
    }
    tlvs.push({ type: raw[at]!, value: raw.subarray(at + 3, at + 3 + length) })
    at += 3 + length
  }
  return tlvs
}

function withTLVs(header: ProxyHeader, from: number): ProxyHeader {
  const { raw } = header
  if (from === raw.length) return header
  const tlvs = splitTLVs(raw, from, raw.length, 'TLV')
  const known: Record<string, unknown> = {}
  const application: ProxyTLV[] = []
  const checksums: ProxyTLV[] = []
  for (const tlv of tlvs) {
    const { type, value } = tlv
    const first = (name: string, decode: () => unknown) => {
      if (!(name in known)) known[name] = decode()
    }
    if (type === PP2_TYPE.ALPN) first('alpn', () => value.toString('latin1'))
    else if (type === PP2_TYPE.AUTHORITY) first('authority', () => value.toString('utf8'))
    else if (type === PP2_TYPE.NETNS) first('netns', () => value.toString('latin1'))
    else if (type === PP2_TYPE.UNIQUE_ID) {
      if (value.length > UNIQUE_ID_MAX)
        throw new ProxyHeaderError('tlv', `UNIQUE_ID of ${value.length} bytes (at most ${UNIQUE_ID_MAX})`)
      first('uniqueId', () => value)
    } else if (type === PP2_TYPE.CRC32C) {
      if (value.length !== 4)
        throw new ProxyHeaderError('tlv', `CRC32C of ${value.length} bytes (4 expected)`)
      checksums.push(tlv)
    } else if (type === PP2_TYPE.SSL) first('ssl', () => sslOf(value))
    else if (type >= 0xe0 && type <= 0xef) application.push(tlv)
  }
  if (checksums.length > 0) known.crc32c = verifyChecksums(raw, checksums)
  return { ...header, ...known, tlvs, application }
}

function sslOf(value: Buffer): ProxySSL {
  if (value.length < 5) throw new ProxyHeaderError('tlv', `SSL TLV of ${value.length} bytes (at least 5)`)
  const tlvs = splitTLVs(value, 5, value.length, 'SSL sub-TLV')
  const text = (type: number) => tlvs.find((tlv) => tlv.type === type)?.value.toString('utf8')
  const named = {
    version: text(PP2_TYPE.SSL_VERSION),
    cn: text(PP2_TYPE.SSL_CN),
    cipher: text(PP2_TYPE.SSL_CIPHER),
    sigAlg: text(PP2_TYPE.SSL_SIG_ALG),
    keyAlg: text(PP2_TYPE.SSL_KEY_ALG),
  }
  const present = Object.fromEntries(Object.entries(named).filter(([, v]) => v !== undefined))
  return { client: value[0]!, verify: value.readUInt32BE(1), ...present, tlvs }
}

/** The CRC32C of the whole header with every CRC32C value taken as zero; each TLV must carry it. */
function verifyChecksums(raw: Buffer, checksums: readonly ProxyTLV[]): number {
  let crc = 0
  let at = 0
  for (const { value } of checksums) {
    const offset = value.byteOffset - raw.byteOffset
    crc = crc32c(ZERO4, crc32c(raw.subarray(at, offset), crc))
    at = offset + 4
  }
  crc = crc32c(raw.subarray(at), crc)
  for (const { value } of checksums) {
    const expected = value.readUInt32BE(0)
    if (expected !== crc) throw new ProxyChecksumError(expected, crc)
  }
  return crc
}

/** What `encodeProxyHeader()` writes: what a proxy (or a test) sends ahead of a connection's bytes. */
export interface ProxyHeaderInit {
  version: 1 | 2
  /** Default: `'PROXY'`; `'LOCAL'` is v2 only. */
  command?: 'PROXY' | 'LOCAL'
  /** Omitted: v1 `UNKNOWN`, v2 `AF_UNSPEC`. Both or neither, of one family. */
  source?: ProxyEndpoint
  destination?: ProxyEndpoint
  /** v2 TLVs, in order. */
  tlvs?: readonly { type: number; value: Uint8Array | string }[]
  /** v2: append a CRC32C TLV over the whole header. */
  crc32c?: boolean
}

/** Encodes a PROXY protocol header (a client-side helper: tests, the bench, a proxy of your own). */
export function encodeProxyHeader(init: ProxyHeaderInit): Buffer {
  const { source, destination } = init
  if (init.version === 1) {
    if (!source || !destination || !('port' in source) || !('port' in destination)) {
      return Buffer.from('PROXY UNKNOWN\r\n')
    }
    const proto = isIPv6(source.address) ? 'TCP6' : 'TCP4'
    return Buffer.from(
      `PROXY ${proto} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`,
    )
  }
  let family = 0x00
  let block = Buffer.alloc(0)
  if (source && destination) {
    if ('path' in source && 'path' in destination) {
      family = 0x31
      block = Buffer.alloc(216)
      block.write(source.path, 0, 108)
      block.write(destination.path, 108, 108)
    } else if ('port' in source && 'port' in destination) {
      const v6 = isIPv6(source.address)
      family = v6 ? 0x21 : 0x11
      const size = v6 ? 16 : 4
      block = Buffer.alloc(size * 2 + 4)
      ipBytes(source.address, v6).copy(block, 0)
      ipBytes(destination.address, v6).copy(block, size)
      block.writeUInt16BE(source.port, size * 2)
      block.writeUInt16BE(destination.port, size * 2 + 2)
    }
  }
  const tlvs = (init.tlvs ?? []).map(({ type, value }) => {
    const bytes = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value)
    const tlv = Buffer.alloc(3 + bytes.length)
    tlv[0] = type
    tlv.writeUInt16BE(bytes.length, 1)
    bytes.copy(tlv, 3)
    return tlv
  })
  if (init.crc32c) tlvs.push(Buffer.from([PP2_TYPE.CRC32C, 0, 4, 0, 0, 0, 0]))
  const fixed = Buffer.alloc(V2_FIXED)
  PROXY_V2_SIGNATURE.copy(fixed)
  fixed[12] = 0x20 | (init.command === 'LOCAL' ? 0 : 1)
  fixed[13] = family
  const header = Buffer.concat([fixed, block, ...tlvs])
  header.writeUInt16BE(header.length - V2_FIXED, 14)
  if (init.crc32c) header.writeUInt32BE(crc32c(header), header.length - 4)
  return header
}

/** An address's bytes: 4 for IPv4, 16 for IPv6 (`::` and a dotted tail understood). */
function ipBytes(address: string, v6: boolean): Buffer {
  if (!v6) return Buffer.from(address.split('.').map(Number))
  const out = Buffer.alloc(16)
  let text = address
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const groups = (part: string) => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : [])
  const front = groups(head)
  const back = tail === undefined ? [] : groups(tail)
  const all = [...front, ...new Array(8 - front.length - back.length).fill(0), ...back]
  for (const [i, g] of all.entries()) out.writeUInt16BE(g, i * 2)
  return out
}
