import { XdrDecodeError, XdrEncodeError } from './errors.js'

/**
 * XDR (RFC 4506): big-endian, every item padded to a multiple of 4 bytes. A type is a pair of
 * `encode(writer, value)` and `decode(reader)`; build them from the primitives in `xdr`.
 */
export interface XdrType<T> {
  /** For error messages: `int`, `string<255>`, `struct`, ... */
  readonly name: string
  encode(writer: XdrWriter, value: T): void
  decode(reader: XdrReader): T
}

/** The TypeScript type an XDR type encodes and decodes. */
export type XdrValue<X> = X extends XdrType<infer T> ? T : never

/** Limits every decode honours, whatever the types declare. */
export interface XdrReaderOptions {
  /**
   * Most elements (array), bytes (opaque) or characters (string) any variable-length item may
   * declare, whatever its type says (`<>` has no maximum of its own). A declared length is also
   * always checked against the bytes left, before anything is allocated.
   * Default: `1048576`.
   */
  maxLength?: number
  /** Deepest nesting of optional data (`*`) and recursive types, e.g. linked lists. Default: `256`. */
  maxDepth?: number
}

export const DEFAULT_XDR_MAX_LENGTH = 1024 * 1024
export const DEFAULT_XDR_MAX_DEPTH = 256

/** Reads XDR items from a buffer, refusing lengths above their limits before allocating. */
export class XdrReader {
  readonly buffer: Buffer
  offset: number
  readonly maxLength: number
  readonly maxDepth: number
  depth = 0

  constructor(buffer: Buffer, options: XdrReaderOptions = {}, offset = 0) {
    this.buffer = buffer
    this.offset = offset
    this.maxLength = options.maxLength ?? DEFAULT_XDR_MAX_LENGTH
    this.maxDepth = options.maxDepth ?? DEFAULT_XDR_MAX_DEPTH
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.buffer.length - this.offset
  }

  #need(n: number, what: string): void {
    if (this.buffer.length - this.offset < n) {
      throw new XdrDecodeError(`truncated ${what}: ${n} bytes needed, ${this.remaining} left`, this.offset)
    }
  }

  uint32(): number {
    this.#need(4, 'unsigned int')
    const v = this.buffer.readUInt32BE(this.offset)
    this.offset += 4
    return v
  }

  int32(): number {
    this.#need(4, 'int')
    const v = this.buffer.readInt32BE(this.offset)
    this.offset += 4
    return v
  }

  /**
   * A variable length, checked against the type's maximum, `maxLength`, and the bytes left
   * (each unit takes at least `unitBytes`).
   */
  length(max: number | undefined, unitBytes: number, what: string): number {
    const at = this.offset
    const n = this.uint32()
    const limit = Math.min(max ?? this.maxLength, this.maxLength)
    if (n > limit) throw new XdrDecodeError(`${what} length ${n} exceeds its limit ${limit}`, at)
    if (n * unitBytes > this.remaining) {
      throw new XdrDecodeError(`${what} length ${n} needs more than the ${this.remaining} bytes left`, at)
    }
    return n
  }

  /** `n` bytes and their padding; the padding must be zero (RFC 4506 section 3). Returns a view. */
  bytes(n: number, what = 'opaque'): Buffer {
    const padded = (n + 3) & ~3
    this.#need(padded, what)
    const out = this.buffer.subarray(this.offset, this.offset + n)
    for (let i = this.offset + n; i < this.offset + padded; i++) {
      if (this.buffer[i] !== 0) throw new XdrDecodeError(`non-zero padding after ${what}`, i)
    }
    this.offset += padded
    return out
  }

  enter(): void {
    if (++this.depth > this.maxDepth) {
      throw new XdrDecodeError(`nesting deeper than maxDepth ${this.maxDepth}`, this.offset)
    }
  }

  leave(): void {
    this.depth--
  }

  /** Throws unless every byte was consumed. */
  end(what = 'message'): void {
    if (this.remaining !== 0)
      throw new XdrDecodeError(`${this.remaining} bytes left over after ${what}`, this.offset)
  }
}

/** Writes XDR items into a growing buffer. */
export class XdrWriter {
  #buffer: Buffer
  offset: number

  constructor(initialSize = 256, reserve = 0) {
    this.#buffer = Buffer.allocUnsafe(Math.max(initialSize, reserve + 4))
    this.offset = reserve
  }

  #ensure(n: number): void {
    if (this.offset + n <= this.#buffer.length) return
    let size = this.#buffer.length * 2
    while (size < this.offset + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.#buffer.copy(next, 0, 0, this.offset)
    this.#buffer = next
  }

  uint32(v: number): void {
    this.#ensure(4)
    this.#buffer.writeUInt32BE(v >>> 0, this.offset)
    this.offset += 4
  }

  int32(v: number): void {
    this.#ensure(4)
    this.#buffer.writeInt32BE(v | 0, this.offset)
    this.offset += 4
  }

  /** `data` and zero padding to a multiple of 4. */
  bytes(data: Uint8Array): void {
    const padded = (data.length + 3) & ~3
    this.#ensure(padded)
    this.#buffer.set(data, this.offset)
    this.#buffer.fill(0, this.offset + data.length, this.offset + padded)
    this.offset += padded
  }

  /** Writes `n` bytes with `fill(buffer, offset)`. */
  raw(n: number, fill: (buffer: Buffer, offset: number) => void): void {
    this.#ensure(n)
    fill(this.#buffer, this.offset)
    this.offset += n
  }

  /** The bytes written so far (a view; copy it to keep it past further writes). */
  toBuffer(): Buffer {
    return this.#buffer.subarray(0, this.offset)
  }

  /** Writes `v` at `at` without moving the offset (e.g. a record mark reserved up front). */
  patchUint32(at: number, v: number): void {
    this.#buffer.writeUInt32BE(v >>> 0, at)
  }
}

function checkInt(v: unknown, min: number, max: number, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new XdrEncodeError(`${name}: ${String(v)} is not an integer in [${min}, ${max}]`)
  }
  return v
}

const int: XdrType<number> = {
  name: 'int',
  encode: (w, v) => w.int32(checkInt(v, -0x80000000, 0x7fffffff, 'int')),
  decode: (r) => r.int32(),
}

const uint: XdrType<number> = {
  name: 'unsigned int',
  encode: (w, v) => w.uint32(checkInt(v, 0, 0xffffffff, 'unsigned int')),
  decode: (r) => r.uint32(),
}

function bigintIn(v: unknown, min: bigint, max: bigint, name: string): bigint {
  const b = typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : v
  if (typeof b !== 'bigint' || b < min || b > max)
    throw new XdrEncodeError(`${name}: ${String(v)} is out of range`)
  return b
}

const hyper: XdrType<bigint> = {
  name: 'hyper',
  encode: (w, v) => {
    const b = bigintIn(v, -(2n ** 63n), 2n ** 63n - 1n, 'hyper')
    w.raw(8, (buf, o) => buf.writeBigInt64BE(b, o))
  },
  decode: (r) => {
    const hi = r.int32()
    const lo = r.uint32()
    return (BigInt(hi) << 32n) | BigInt(lo)
  },
}

const uhyper: XdrType<bigint> = {
  name: 'unsigned hyper',
  encode: (w, v) => {
    const b = bigintIn(v, 0n, 2n ** 64n - 1n, 'unsigned hyper')
    w.raw(8, (buf, o) => buf.writeBigUInt64BE(b, o))
  },
  decode: (r) => {
    const hi = r.uint32()
    const lo = r.uint32()
    return (BigInt(hi) << 32n) | BigInt(lo)
  },
}

const bool: XdrType<boolean> = {
  name: 'bool',
  encode: (w, v) => {
    if (typeof v !== 'boolean') throw new XdrEncodeError(`bool: ${String(v)} is not a boolean`)
    w.uint32(v ? 1 : 0)
  },
  decode: (r) => {
    const at = r.offset
    const v = r.uint32()
    if (v > 1) throw new XdrDecodeError(`bool ${v} is neither 0 nor 1`, at)
    return v === 1
  },
}

const float: XdrType<number> = {
  name: 'float',
  encode: (w, v) => {
    if (typeof v !== 'number') throw new XdrEncodeError(`float: ${String(v)} is not a number`)
    w.raw(4, (buf, o) => buf.writeFloatBE(v, o))
  },
  decode: (r) => {
    const at = r.offset
    r.uint32() // checks that 4 bytes are there
    return r.buffer.readFloatBE(at)
  },
}

const double: XdrType<number> = {
  name: 'double',
  encode: (w, v) => {
    if (typeof v !== 'number') throw new XdrEncodeError(`double: ${String(v)} is not a number`)
    w.raw(8, (buf, o) => buf.writeDoubleBE(v, o))
  },
  decode: (r) => {
    const at = r.offset
    r.bytes(8, 'double') // checks that 8 bytes are there
    return r.buffer.readDoubleBE(at)
  },
}

const voidType: XdrType<void> = {
  name: 'void',
  encode: () => {},
  decode: () => undefined,
}

function toBytes(v: unknown, name: string): Uint8Array {
  if (v instanceof Uint8Array) return v
  throw new XdrEncodeError(`${name}: expected a Buffer or Uint8Array`)
}

/** `opaque name[n]`: exactly `n` bytes. */
function fixedOpaque(n: number): XdrType<Buffer> {
  const name = `opaque[${n}]`
  return {
    name,
    encode: (w, v) => {
      const bytes = toBytes(v, name)
      if (bytes.length !== n) throw new XdrEncodeError(`${name}: got ${bytes.length} bytes`)
      w.bytes(bytes)
    },
    decode: (r) => r.bytes(n, name),
  }
}

/** `opaque name<max>`: up to `max` bytes (no `max`: the reader's `maxLength`). Decodes to a view of the message. */
function varOpaque(max?: number): XdrType<Buffer> {
  const name = `opaque<${max ?? ''}>`
  return {
    name,
    encode: (w, v) => {
      const bytes = toBytes(v, name)
      if (max !== undefined && bytes.length > max) throw new XdrEncodeError(`${name}: ${bytes.length} bytes`)
      w.uint32(bytes.length)
      w.bytes(bytes)
    },
    decode: (r) => r.bytes(r.length(max, 1, name), name),
  }
}

/** `string name<max>`: UTF-8 text of up to `max` bytes. */
function string(max?: number): XdrType<string> {
  const name = `string<${max ?? ''}>`
  return {
    name,
    encode: (w, v) => {
      if (typeof v !== 'string') throw new XdrEncodeError(`${name}: ${String(v)} is not a string`)
      const bytes = Buffer.from(v, 'utf8')
      if (max !== undefined && bytes.length > max) throw new XdrEncodeError(`${name}: ${bytes.length} bytes`)
      w.uint32(bytes.length)
      w.bytes(bytes)
    },
    decode: (r) => r.bytes(r.length(max, 1, name), name).toString('utf8'),
  }
}

/** `T name[n]`: exactly `n` elements. */
function fixedArray<T>(type: XdrType<T>, n: number): XdrType<T[]> {
  const name = `${type.name}[${n}]`
  return {
    name,
    encode: (w, v) => {
      if (!Array.isArray(v) || v.length !== n) throw new XdrEncodeError(`${name}: expected ${n} elements`)
      for (const item of v) type.encode(w, item)
    },
    decode: (r) => {
      if (n * 4 > r.remaining && type !== (voidType as XdrType<unknown>)) r.bytes(n * 4, name)
      const out = new Array<T>(n)
      for (let i = 0; i < n; i++) out[i] = type.decode(r)
      return out
    },
  }
}

/** `T name<max>`: up to `max` elements (no `max`: the reader's `maxLength`). */
function varArray<T>(type: XdrType<T>, max?: number): XdrType<T[]> {
  const name = `${type.name}<${max ?? ''}>`
  return {
    name,
    encode: (w, v) => {
      if (!Array.isArray(v)) throw new XdrEncodeError(`${name}: expected an array`)
      if (max !== undefined && v.length > max) throw new XdrEncodeError(`${name}: ${v.length} elements`)
      w.uint32(v.length)
      for (const item of v) type.encode(w, item)
    },
    decode: (r) => {
      // Every XDR item but void takes at least 4 bytes: a count the message cannot hold is refused here.
      const n = r.length(max, 4, name)
      const out = new Array<T>(n)
      for (let i = 0; i < n; i++) out[i] = type.decode(r)
      return out
    },
  }
}

/** `T *name`: `null` or a value (a bool, then the value). */
function optional<T>(type: XdrType<T>): XdrType<T | null> {
  return {
    name: `${type.name}*`,
    encode: (w, v) => {
      if (v === null || v === undefined) w.uint32(0)
      else {
        w.uint32(1)
        type.encode(w, v)
      }
    },
    decode: (r) => {
      if (!bool.decode(r)) return null
      r.enter()
      try {
        return type.decode(r)
      } finally {
        r.leave()
      }
    },
  }
}

/** `enum { A = 0, B = 1 }`: the number, which must be one of `values`. */
function enumType<const E extends Record<string, number>>(values: E): XdrType<E[keyof E]> & { values: E } {
  const allowed = new Set<number>(Object.values(values))
  return {
    name: 'enum',
    values,
    encode: (w, v) => {
      if (!allowed.has(v as number)) throw new XdrEncodeError(`enum: ${String(v)} is not a declared value`)
      w.int32(v as number)
    },
    decode: (r) => {
      const at = r.offset
      const v = r.int32()
      if (!allowed.has(v)) throw new XdrDecodeError(`enum value ${v} is not declared`, at)
      return v as E[keyof E]
    },
  }
}

type Fields = Record<string, XdrType<any>>
type StructValue<F extends Fields> = { [K in keyof F]: XdrValue<F[K]> }

/** `struct { ... }`: the fields in declaration order (the object's key order). */
function struct<const F extends Fields>(fields: F): XdrType<StructValue<F>> {
  const entries = Object.entries(fields)
  return {
    name: 'struct',
    encode: (w, v) => {
      if (v === null || typeof v !== 'object') throw new XdrEncodeError('struct: expected an object')
      for (const [key, type] of entries) {
        try {
          type.encode(w, (v as Record<string, unknown>)[key])
        } catch (error) {
          if (error instanceof XdrEncodeError)
            throw new XdrEncodeError(`${key}: ${error.message.replace(/^XDR encode: /, '')}`)
          throw error
        }
      }
    },
    decode: (r) => {
      const out: Record<string, unknown> = {}
      for (const [key, type] of entries) out[key] = type.decode(r)
      return out as StructValue<F>
    },
  }
}

type Arms = Record<number, XdrType<any>>
/** A union value: `{ tag, value }` with the arm's type for each tag. */
export type UnionValue<A extends Arms, D = never> =
  | { [K in keyof A & number]: { tag: K; value: XdrValue<A[K]> } }[keyof A & number]
  | ([D] extends [never] ? never : { tag: number; value: D })

/**
 * `union switch (int|unsigned|enum|bool discriminant) { case N: T; ... default: T; }`. `arms` maps
 * each case to its type (`xdr.void` for `void`); without `defaultArm` any other discriminant is refused.
 */
function union<const A extends Arms, D = never>(
  discriminant: XdrType<number> | XdrType<boolean>,
  arms: A,
  defaultArm?: XdrType<D>,
): XdrType<UnionValue<A, D>> {
  const disc = discriminant as XdrType<number | boolean>
  const isBool = discriminant === (bool as XdrType<unknown>)
  return {
    name: 'union',
    encode: (w, v) => {
      if (v === null || typeof v !== 'object' || !('tag' in v))
        throw new XdrEncodeError('union: expected { tag, value }')
      const tag = v.tag as number
      const arm = (arms as Record<number, XdrType<unknown>>)[tag] ?? defaultArm
      if (!arm) throw new XdrEncodeError(`union: no arm for discriminant ${tag}`)
      disc.encode(w, isBool ? tag === 1 : tag)
      arm.encode(w, v.value)
    },
    decode: (r) => {
      const at = r.offset
      const raw = disc.decode(r)
      const tag = typeof raw === 'boolean' ? (raw ? 1 : 0) : raw
      const arm = (arms as Record<number, XdrType<unknown>>)[tag] ?? defaultArm
      if (!arm) throw new XdrDecodeError(`union discriminant ${tag} has no arm`, at)
      return { tag, value: arm.decode(r) } as UnionValue<A, D>
    },
  }
}

/** A type defined later or recursively (`struct node { int v; node *next; }`): `xdr.lazy(() => node)`. */
function lazy<T>(get: () => XdrType<T>): XdrType<T> {
  let type: XdrType<T> | undefined
  return {
    get name() {
      return 'lazy'
    },
    encode: (w, v) => (type ??= get()).encode(w, v),
    decode: (r) => {
      r.enter()
      try {
        return (type ??= get()).decode(r)
      } finally {
        r.leave()
      }
    },
  }
}

/** The XDR types rpcgen knows, as TypeScript values. */
export const xdr = {
  int,
  uint,
  unsigned: uint,
  hyper,
  uhyper,
  bool,
  float,
  double,
  void: voidType,
  enum: enumType,
  opaque: fixedOpaque,
  varOpaque,
  string,
  array: fixedArray,
  varArray,
  optional,
  struct,
  union,
  lazy,
} as const

/** Encodes `value` as `type` into a new buffer. */
export function encodeXdr<T>(type: XdrType<T>, value: T): Buffer {
  const w = new XdrWriter()
  type.encode(w, value)
  return Buffer.from(w.toBuffer())
}

/** Decodes all of `buffer` as `type`; trailing bytes are an error. */
export function decodeXdr<T>(type: XdrType<T>, buffer: Buffer, options?: XdrReaderOptions): T {
  const r = new XdrReader(buffer, options)
  const v = type.decode(r)
  r.end()
  return v
}
