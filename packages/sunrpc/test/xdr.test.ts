import {
  decodeXdr,
  encodeXdr,
  parseRpcl,
  XdrDecodeError,
  XdrEncodeError,
  type XdrType,
  xdr,
} from '@socketserver/sunrpc'
import { describe, expect, it } from 'vitest'

function roundTrip<T>(type: XdrType<T>, value: T): T {
  return decodeXdr(type, encodeXdr(type, value))
}

describe('XDR (RFC 4506)', () => {
  it('encodes integers big-endian in 4 bytes, hypers in 8, and back', () => {
    expect(encodeXdr(xdr.int, -2).toString('hex')).toBe('fffffffe')
    expect(encodeXdr(xdr.uint, 0xfffffffe).toString('hex')).toBe('fffffffe')
    expect(encodeXdr(xdr.hyper, -(2n ** 63n)).toString('hex')).toBe('8000000000000000')
    expect(roundTrip(xdr.uhyper, 2n ** 64n - 1n)).toBe(2n ** 64n - 1n)
    expect(roundTrip(xdr.hyper, -123456789012345n)).toBe(-123456789012345n)
    expect(roundTrip(xdr.int, -2147483648)).toBe(-2147483648)
    expect(() => encodeXdr(xdr.int, 2 ** 31)).toThrow(XdrEncodeError)
    expect(() => encodeXdr(xdr.uint, -1)).toThrow(XdrEncodeError)
  })

  it('encodes bool, enum, float and double', () => {
    expect(encodeXdr(xdr.bool, true).toString('hex')).toBe('00000001')
    expect(roundTrip(xdr.float, 1.5)).toBe(1.5)
    expect(roundTrip(xdr.double, Math.PI)).toBe(Math.PI)
    const color = xdr.enum({ RED: 0, GREEN: 2 })
    expect(roundTrip(color, 2)).toBe(2)
    expect(() => encodeXdr(color, 1 as 0)).toThrow(XdrEncodeError)
    expect(() => decodeXdr(color, Buffer.from('00000001', 'hex'))).toThrow(XdrDecodeError)
    expect(() => decodeXdr(xdr.bool, Buffer.from('00000002', 'hex'))).toThrow(/neither 0 nor 1/)
  })

  it('pads opaque data and strings to 4 bytes with zeros, and refuses non-zero padding', () => {
    expect(encodeXdr(xdr.string(10), 'abcde').toString('hex')).toBe('000000056162636465000000')
    expect(encodeXdr(xdr.opaque(3), Buffer.from([1, 2, 3])).toString('hex')).toBe('01020300')
    expect(roundTrip(xdr.varOpaque(8), Buffer.from('hi'))).toEqual(Buffer.from('hi'))
    expect(() => decodeXdr(xdr.string(10), Buffer.from('000000056162636465000100', 'hex'))).toThrow(/padding/)
    expect(() => encodeXdr(xdr.string(4), 'abcde')).toThrow(XdrEncodeError)
  })

  it('round-trips arrays, optional data, structs and unions', () => {
    const point = xdr.struct({ x: xdr.int, y: xdr.int, label: xdr.optional(xdr.string()) })
    const shape = xdr.union(xdr.uint, { 0: xdr.void, 1: point, 2: xdr.varArray(point, 4) }, xdr.varOpaque())
    const p = { x: 1, y: -1, label: 'a' }
    expect(roundTrip(shape, { tag: 1, value: p })).toEqual({ tag: 1, value: p })
    expect(roundTrip(shape, { tag: 2, value: [p, { ...p, label: null }] })).toEqual({
      tag: 2,
      value: [p, { ...p, label: null }],
    })
    expect(roundTrip(shape, { tag: 9, value: Buffer.from('x') })).toEqual({ tag: 9, value: Buffer.from('x') })
    expect(roundTrip(xdr.array(xdr.bool, 3), [true, false, true])).toEqual([true, false, true])
    const strict = xdr.union(xdr.bool, { 1: xdr.int })
    expect(() => decodeXdr(strict, Buffer.from('00000000', 'hex'))).toThrow(/no arm/)
  })

  it('decodes recursive lists up to maxDepth', () => {
    type Node = { v: number; next: Node | null }
    const node: XdrType<Node> = xdr.struct({ v: xdr.int, next: xdr.optional(xdr.lazy(() => node)) })
    let list: Node | null = null
    for (let i = 0; i < 50; i++) list = { v: i, next: list }
    const bytes = encodeXdr(node, list!)
    expect(decodeXdr(node, bytes).v).toBe(49)
    expect(() => decodeXdr(node, bytes, { maxDepth: 20 })).toThrow(/maxDepth 20/)
  })

  it('refuses a length that lies before allocating: past its limit, past maxLength, past the bytes left', () => {
    const lie = Buffer.from('7fffffff00000001', 'hex') // "2^31-1 elements", then one
    expect(() => decodeXdr(xdr.varArray(xdr.int), lie)).toThrow(/exceeds its limit 1048576/)
    expect(() => decodeXdr(xdr.varArray(xdr.int), lie, { maxLength: 2 ** 31 })).toThrow(
      /more than the 4 bytes left/,
    )
    expect(() => decodeXdr(xdr.varArray(xdr.int, 10), Buffer.from('0000000b', 'hex'))).toThrow(/limit 10/)
    expect(() => decodeXdr(xdr.varOpaque(), Buffer.from('0000000561', 'hex'))).toThrow(XdrDecodeError)
  })

  it('reports truncation with its offset', () => {
    const error = (() => {
      try {
        decodeXdr(xdr.struct({ a: xdr.int, b: xdr.hyper }), Buffer.alloc(8))
      } catch (e) {
        return e as XdrDecodeError
      }
    })()
    expect(error).toBeInstanceOf(XdrDecodeError)
    expect(error?.code).toBe('SOCKSRV_XDR_DECODE')
    expect(error?.offset).toBe(8)
    expect(() => decodeXdr(xdr.int, Buffer.alloc(8))).toThrow(/4 bytes left over/)
  })
})

describe('parseRpcl', () => {
  it('reads constants, programs, versions and procedures from a .x file', () => {
    const x = parseRpcl(`
      /* comment */ const MAXN = 16;  const PROG = 0x20000099;
      %#include <x.h>
      program P { version V1 { void NULLP(void) = 0; int ADD(pair) = 1; } = 1;
                  version V2 { string<MAXN> NAME(int, int) = 7; } = 2; } = PROG;`)
    expect(x.constants).toEqual({ MAXN: 16, PROG: 0x20000099 })
    expect(x.programs).toEqual([
      {
        name: 'P',
        number: 0x20000099,
        versions: [
          {
            name: 'V1',
            number: 1,
            procedures: [
              { name: 'NULLP', number: 0, result: 'void', args: ['void'] },
              { name: 'ADD', number: 1, result: 'int', args: ['pair'] },
            ],
          },
          {
            name: 'V2',
            number: 2,
            procedures: [{ name: 'NAME', number: 7, result: 'string<MAXN>', args: ['int', 'int'] }],
          },
        ],
      },
    ])
    expect(() => parseRpcl('program Q { version W { void X(void) = 0; } = NOPE; } = 1;')).toThrow(/NOPE/)
  })
})
