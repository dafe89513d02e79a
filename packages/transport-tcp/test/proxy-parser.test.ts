import { PROXY_BAD_HEADERS as BAD, PROXY_GOOD_HEADERS as GOOD } from '@socketserver/compliance-tests'
import {
  encodeProxyHeader,
  ProxyChecksumError,
  ProxyHeaderError,
  ProxyHeaderParser,
  parseProxyHeader,
  proxyInfo,
} from '@socketserver/core'
import { connectionHandoff, crc32c, proxyProtocolOption, receiveHandoff } from '@socketserver/core/transport'
import { describe, expect, it } from 'vitest'

const PAYLOAD = Buffer.from('payload\r\nafter the header')

/** Feeds `bytes` to a fresh parser in the pieces `cuts` makes; the result once complete. */
function feed(bytes: Buffer, cuts: number[]) {
  const parser = new ProxyHeaderParser()
  let from = 0
  for (const cut of [...cuts, bytes.length]) {
    const done = parser.push(bytes.subarray(from, cut))
    from = cut
    if (done) return { ...done, rest: Buffer.concat([done.rest, bytes.subarray(from)]) }
  }
  return undefined
}

describe('PROXY protocol parser', () => {
  it('CRC32C is the Castagnoli CRC (check value of "123456789")', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
  })

  for (const good of GOOD) {
    it(`${good.name}: the same header and payload split at any byte, or in one chunk`, () => {
      const bytes = Buffer.concat([good.bytes, PAYLOAD])
      const whole = feed(bytes, [])!
      expect(whole.header.raw).toEqual(good.bytes)
      expect(whole.header.command).toBe(good.command)
      expect(whole.rest).toEqual(PAYLOAD)
      const source = whole.header.source
      expect(source && 'port' in source ? { address: source.address, port: source.port } : undefined).toEqual(
        good.client,
      )
      // Every split point of the header (and of a big header, a sample of them), and byte by byte.
      const step = good.bytes.length > 1_000 ? 16_381 : 1
      for (let cut = 1; cut <= good.bytes.length; cut += step) {
        const split = feed(bytes, [cut])!
        expect(split.header).toEqual(whole.header)
        expect(split.rest).toEqual(PAYLOAD)
      }
      if (good.bytes.length < 1_000) {
        const single = feed(
          bytes,
          Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
        )!
        expect(single.header).toEqual(whole.header)
        expect(single.rest).toEqual(PAYLOAD)
      }
    })

    it(`${good.name}: cut short at every byte is 'truncated', never a header`, () => {
      const step = good.bytes.length > 1_000 ? 4_999 : 1
      for (let cut = 0; cut < good.bytes.length; cut += step) {
        const parser = new ProxyHeaderParser()
        expect(parser.push(good.bytes.subarray(0, cut))).toBeUndefined()
        expect(() => parser.end()).toThrow(
          expect.objectContaining({ code: 'SOCKSRV_PROXY_HEADER', reason: 'truncated' }),
        )
      }
    })
  }

  it('decodes the TLVs: ALPN, AUTHORITY, UNIQUE_ID, SSL and its sub-TLVs, NETNS, CRC32C, the application range; duplicates kept', () => {
    const { header } = parseProxyHeader(GOOD.find((g) => g.name.startsWith('v2 INET with TLVs'))!.bytes)
    expect(header).toMatchObject({
      version: 2,
      family: 'IPv4',
      transport: 'stream',
      destination: { address: '192.0.2.1', port: 80 },
      alpn: 'h2',
      authority: 'chat.example',
      netns: 'blue',
      ssl: {
        client: 7,
        verify: 0,
        version: 'TLSv1.3',
        cn: 'client.example',
        cipher: 'TLS_AES_128_GCM_SHA256',
        sigAlg: 'RSA-SHA256',
        keyAlg: 'RSA2048',
      },
    })
    expect(header.uniqueId?.toString()).toBe('req-0001')
    expect(header.crc32c).toBeTypeOf('number')
    expect(header.application.map((t) => [t.type, [...t.value]])).toEqual([
      [0xe0, [1, 2, 3]],
      [0xe0, [4]],
    ])
    expect(header.tlvs.filter((t) => t.type === 0x01).map((t) => t.value.toString())).toEqual([
      'h2',
      'http/1.1',
    ])
    expect(header.ssl?.tlvs).toHaveLength(5)
  })

  it('v2 addresses: IPv6 in RFC 5952 text, IPv4-mapped dotted, Unix paths', () => {
    expect(parseProxyHeader(GOOD.find((g) => g.name === 'v2 INET6')!.bytes).header.destination).toEqual({
      address: '::ffff:192.0.2.1',
      port: 2,
    })
    const unix = parseProxyHeader(GOOD.find((g) => g.name.startsWith('v2 UNIX'))!.bytes).header
    expect([unix.family, unix.source, unix.destination]).toEqual([
      'Unix',
      { path: '/run/a.sock' },
      { path: '/run/b.sock' },
    ])
    for (const address of ['2001:db8:0:0:1:0:0:1', '::', '1::', 'fe80::1:2', '2001:db8::']) {
      const bytes = encodeProxyHeader({
        version: 2,
        source: { address, port: 1 },
        destination: { address: '::1', port: 2 },
      })
      const expected = { '2001:db8:0:0:1:0:0:1': '2001:db8::1:0:0:1' }[address] ?? address
      expect((parseProxyHeader(bytes).header.source as { address: string }).address).toBe(expected)
    }
  })

  for (const bad of BAD) {
    it(`refuses ${bad.name}: ${bad.code}${bad.reason ? ` (${bad.reason})` : ''}, whole or fed byte by byte`, () => {
      const expected = expect.objectContaining({ code: bad.code, ...(bad.reason && { reason: bad.reason }) })
      expect(() => parseProxyHeader(Buffer.concat([bad.bytes, PAYLOAD]))).toThrow(expected)
      const parser = new ProxyHeaderParser()
      const step = bad.bytes.length > 1_000 ? 8_191 : 1
      let thrown: unknown
      try {
        for (let at = 0; at < bad.bytes.length; at += step) parser.push(bad.bytes.subarray(at, at + step))
        parser.push(PAYLOAD)
      } catch (error) {
        thrown = error
      }
      expect(thrown).toEqual(expected)
      expect(thrown).toBeInstanceOf(
        bad.code === 'SOCKSRV_PROXY_CHECKSUM' ? ProxyChecksumError : ProxyHeaderError,
      )
    })
  }

  it('refuses as soon as the bytes seen cannot start a header, without waiting for more', () => {
    for (const start of ['G', 'PROXX', '\r\n\r\n\x00\r\nQUIX']) {
      expect(() => new ProxyHeaderParser().push(Buffer.from(start, 'latin1'))).toThrow(
        expect.objectContaining({ reason: 'signature' }),
      )
    }
  })

  it('refuses a version not in `versions`', () => {
    expect(() => parseProxyHeader(GOOD[0]!.bytes, [2])).toThrow(
      expect.objectContaining({ reason: 'version' }),
    )
    expect(() => parseProxyHeader(GOOD[4]!.bytes, [1])).toThrow(
      expect.objectContaining({ reason: 'version' }),
    )
  })

  it('the option accepts true, false and the documented object, and nothing else', () => {
    const good = [
      true,
      false,
      {},
      { versions: [2], trustedProxies: ['10.0.0.0/8', '::1'], headerTimeout: null, untrusted: 'direct' },
    ]
    for (const value of good) expect(proxyProtocolOption.check(value)).toBeUndefined()
    const bad = [
      1,
      'yes',
      null,
      [],
      { version: [1] },
      { versions: [] },
      { versions: [3] },
      { trustedProxies: ['10.0.0.0/33'] },
      { headerTimeout: -1 },
      { untrusted: 'allow' },
    ]
    for (const value of bad) expect(proxyProtocolOption.check(value)).toMatch(/^true, false or/)
  })

  it('a handoff carries the header and proxy address to another thread or process', async () => {
    const { PassThrough } = await import('node:stream')
    const source = new PassThrough()
    const target = new PassThrough()
    expect(connectionHandoff(source as never, true)).toBeUndefined()
    receiveHandoff(target, {
      head: new Uint8Array([104, 105]),
      proxy: { header: GOOD[0]!.bytes, proxyAddress: { address: '127.0.0.1', port: 9 } },
    })
    expect(target.read()?.toString()).toBe('hi')
    expect(proxyInfo(target)).toMatchObject({
      source: { address: '203.0.113.7', port: 54321 },
      proxyAddress: { address: '127.0.0.1', port: 9 },
    })
  })
})
