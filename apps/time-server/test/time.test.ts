import { describe, expect, it } from 'vitest'
import {
  buildSntpReply,
  daytimeString,
  EPOCH_1900_OFFSET,
  parseSntpRequest,
  rfc868Bytes,
  rfc868Seconds,
  writeNtpTimestamp,
} from '../src/index.js'
import { sntpRequest } from './helpers.js'

/** 2036-02-07T06:28:16Z: 2^32 seconds after 1900, where RFC 868 and NTP era 0 end. */
const WRAP_MS = (2 ** 32 - EPOCH_1900_OFFSET) * 1000

describe('RFC 868 seconds', () => {
  it('counts from 1900: the Unix epoch is 2208988800', () => {
    expect(rfc868Seconds(0)).toBe(2_208_988_800)
    expect(rfc868Seconds(Date.UTC(2000, 0, 1))).toBe(3_155_673_600) // RFC 868's own example gives 1990: 2840140800 + 10 years
    expect(rfc868Seconds(Date.UTC(1990, 0, 1))).toBe(2_840_140_800)
    expect(rfc868Seconds(999)).toBe(2_208_988_800) // whole seconds
  })

  it('wraps to 0 at 2036-02-07T06:28:16Z and keeps counting (modulo 2^32)', () => {
    expect(new Date(WRAP_MS).toISOString()).toBe('2036-02-07T06:28:16.000Z')
    expect(rfc868Seconds(WRAP_MS - 1000)).toBe(2 ** 32 - 1)
    expect(rfc868Seconds(WRAP_MS - 1)).toBe(2 ** 32 - 1)
    expect(rfc868Seconds(WRAP_MS)).toBe(0)
    expect(rfc868Seconds(WRAP_MS + 1000)).toBe(1)
    expect(rfc868Seconds(Date.UTC(2040, 0, 1))).toBe(
      Date.UTC(2040, 0, 1) / 1000 + EPOCH_1900_OFFSET - 2 ** 32,
    )
  })

  it('is sent as 4 bytes big-endian', () => {
    expect(rfc868Bytes(WRAP_MS - 1000).toString('hex')).toBe('ffffffff')
    expect(rfc868Bytes(WRAP_MS + 258_000).toString('hex')).toBe('00000102')
    expect(rfc868Bytes(0).toString('hex')).toBe('83aa7e80')
  })
})

describe('NTP timestamps', () => {
  it('hold seconds since 1900 and a 32-bit fraction', () => {
    const out = Buffer.alloc(8)
    writeNtpTimestamp(out, 0, 1500)
    expect(out.readUInt32BE(0)).toBe(2_208_988_801)
    expect(out.readUInt32BE(4)).toBe(2 ** 31)
    writeNtpTimestamp(out, 0, WRAP_MS + 250)
    expect(out.readUInt32BE(0)).toBe(0) // era 1
    expect(out.readUInt32BE(4)).toBe(2 ** 30)
  })
})

describe('RFC 867 daytime', () => {
  it("is RFC 867's suggested format, in UTC, ending in CRLF", () => {
    expect(daytimeString(Date.UTC(1982, 1, 22, 17, 37, 43))).toBe(
      'Monday, February 22, 1982 17:37:43-UTC\r\n',
    )
    expect(daytimeString(WRAP_MS)).toBe('Thursday, February 7, 2036 06:28:16-UTC\r\n')
  })
})

describe('SNTP packets', () => {
  it('parses a client request and refuses short packets, other modes and bad versions', () => {
    const request = parseSntpRequest(sntpRequest({ version: 3 }))
    expect(request).toMatchObject({ version: 3, mode: 3, poll: 6 })
    expect(request!.transmit.toString('hex')).toBe('0123456789abcdef')
    expect(parseSntpRequest(sntpRequest().subarray(0, 47))).toBeUndefined()
    expect(parseSntpRequest(sntpRequest({ mode: 4 }))).toBeUndefined() // a server reply: answering it could loop
    expect(parseSntpRequest(sntpRequest({ mode: 5 }))).toBeUndefined()
    expect(parseSntpRequest(sntpRequest({ version: 0 }))).toBeUndefined()
    expect(parseSntpRequest(sntpRequest({ version: 5 }))).toBeUndefined()
    expect(parseSntpRequest(sntpRequest({ mode: 1 }))).toMatchObject({ mode: 1 })
  })

  it('builds the RFC 4330 reply: LI 0, version echoed, mode 4, stratum, poll, originate, receive, transmit', () => {
    const request = parseSntpRequest(sntpRequest({ version: 3 }))!
    const reply = buildSntpReply(request, 1000, 1500, { stratum: 2, referenceId: 'TEST' })
    expect(reply.length).toBe(48)
    expect(reply[0]! >> 6).toBe(0)
    expect((reply[0]! >> 3) & 7).toBe(3)
    expect(reply[0]! & 7).toBe(4)
    expect(reply[1]).toBe(2)
    expect(reply[2]).toBe(6)
    expect(reply.readInt8(3)).toBe(-10)
    expect(reply.subarray(12, 16).toString('latin1')).toBe('TEST')
    expect(reply.subarray(24, 32).toString('hex')).toBe('0123456789abcdef')
    expect(reply.readUInt32BE(32)).toBe(2_208_988_801)
    expect(reply.readUInt32BE(36)).toBe(0)
    expect(reply.readUInt32BE(40)).toBe(2_208_988_801)
    expect(reply.readUInt32BE(44)).toBe(2 ** 31)
    // Symmetric active is answered as symmetric passive.
    expect(buildSntpReply(parseSntpRequest(sntpRequest({ mode: 1 }))!, 0, 0)[0]! & 7).toBe(2)
  })
})
