import { InvalidArgumentError } from '@socketserver/core'
import {
  ReflectionGuard,
  rateLimitKey,
  TokenBucketLimiter,
  WELL_KNOWN_SERVICE_PORTS,
} from '@socketserver/transport-udp'
import { describe, expect, it } from 'vitest'

describe('TokenBucketLimiter', () => {
  it('allows a burst, then `rate` per second, per key', () => {
    let now = 0
    const limiter = new TokenBucketLimiter({ rate: 2, burst: 3, now: () => now })
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false])
    expect(limiter.take('b')).toBe(true) // another source has its own bucket
    now += 499
    expect(limiter.take('a')).toBe(false)
    now += 1
    expect(limiter.take('a')).toBe(true) // 500 ms at 2/s: one token
    expect(limiter.take('a')).toBe(false)
    now += 60_000
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false]) // never more than burst
  })

  it('remembers at most maxTracked sources, forgetting the least recently seen', () => {
    const limiter = new TokenBucketLimiter({ rate: 1, burst: 1, maxTracked: 2, now: () => 0 })
    expect(limiter.take('a')).toBe(true)
    expect(limiter.take('b')).toBe(true)
    expect(limiter.take('a')).toBe(false) // a is now the most recently seen
    expect(limiter.take('c')).toBe(true) // forgets b
    expect(limiter.size).toBe(2)
    expect(limiter.take('a')).toBe(false) // still remembered and empty
    expect(limiter.take('b')).toBe(true) // forgotten, so a full bucket again
  })

  it.each([
    [{ rate: 0 }],
    [{ rate: Number.POSITIVE_INFINITY }],
    [{ burst: 0 }],
    [{ burst: 1.5 }],
    [{ rate: '5' as unknown as number }],
  ])('refuses %j', (options) => {
    expect(() => new TokenBucketLimiter(options)).toThrow(InvalidArgumentError)
    expect(() => new TokenBucketLimiter(options)).toThrow(
      /option '(rate|burst)' of TokenBucketLimiter must be/,
    )
  })
})

describe('rateLimitKey', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['::1', '0:0:0:0::/64'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:db8::1:2:3:4', '2001:db8:0:0::/64'],
    ['2001:0db8:0001:0002:ffff::', '2001:db8:1:2::/64'],
    ['fe80::1:2:3.4.5.6', 'fe80:0:0:0::/64'],
  ])('%s is limited as %s', (address, key) => {
    expect(rateLimitKey(address)).toBe(key)
  })
})

describe('ReflectionGuard', () => {
  const from = (address: string, port: number) => ({ address, port, family: 'IPv4' as const })

  it('refuses the well-known service ports by default and counts them', () => {
    const guard = new ReflectionGuard({ rateLimit: false })
    for (const port of WELL_KNOWN_SERVICE_PORTS) expect(guard.allows(from('127.0.0.1', port))).toBe(false)
    expect(guard.allows(from('127.0.0.1', 40_000))).toBe(true)
    expect(guard.dropped).toEqual({ sourcePort: WELL_KNOWN_SERVICE_PORTS.length, rateLimited: 0 })
  })

  it('rate-limits each source after its burst', () => {
    const guard = new ReflectionGuard({ rate: 1, burst: 2, now: () => 0 })
    expect([1, 2, 3].map(() => guard.allows(from('127.0.0.1', 40_000)))).toEqual([true, true, false])
    expect(guard.allows(from('127.0.0.2', 40_000))).toBe(true)
    expect(guard.dropped.rateLimited).toBe(1)
  })
})
