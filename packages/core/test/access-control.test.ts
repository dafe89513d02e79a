import diagnostics from 'node:diagnostics_channel'
import { AccessControl, AccessDeniedError, accessControl, InvalidArgumentError } from '@socketserver/core'
import { afterEach, describe, expect, it } from 'vitest'
import { EventLoopMemoryServer, type MemoryRequest } from './helpers/memory-server.js'
import { waitFor as waitUntil } from './helpers/wait.js'

describe('AccessControl lists', () => {
  it('matches IPv4 and IPv6 CIDR ranges and single addresses; deny wins over allow', () => {
    const access = accessControl({
      allow: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1'],
      deny: ['10.9.0.0/16', 'fd00::bad'],
    })
    expect(access.allows('10.1.2.3')).toBe(true)
    expect(access.allows('10.9.1.1')).toBe(false) // denied inside an allowed range
    expect(access.allows('192.168.1.7')).toBe(true)
    expect(access.allows('192.168.1.8')).toBe(false) // not in the allow list
    expect(access.allows('fd12::1')).toBe(true)
    expect(access.allows('fd00::bad')).toBe(false)
    expect(access.allows('::1')).toBe(true)
    expect(access.allows('::2')).toBe(false)
    expect(access.allows('')).toBe(false) // not an IP address: matches no allow range
  })

  it('matches an IPv4-mapped IPv6 client as its IPv4 address, and drops IPv6 zones', () => {
    const access = accessControl({ allow: ['127.0.0.0/8', 'fe80::/10'], deny: ['127.0.0.9'] })
    expect(access.allows('::ffff:127.0.0.1')).toBe(true)
    expect(access.allows('::FFFF:127.0.0.9')).toBe(false)
    expect(access.allows('::ffff:10.0.0.1')).toBe(false)
    expect(access.allows('fe80::1%eth0')).toBe(true)
    // A mapped range is the IPv4 range it maps.
    expect(accessControl({ deny: ['::ffff:10.0.0.0/104'] }).allows('10.200.0.1')).toBe(false)
  })

  it('without an allow list admits everyone not denied, Unix clients ("") included', () => {
    const access = accessControl({ deny: ['0.0.0.0/0'] })
    expect(access.allows('203.0.113.5')).toBe(false)
    expect(access.allows('2001:db8::1')).toBe(true)
    expect(access.allows('')).toBe(true)
  })

  it('rejects what is not an address or range, and a limit below 1', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '::1/129', '10.0.0.0/', '10.0.0.0/x']) {
      expect(() => accessControl({ allow: [bad] })).toThrow(InvalidArgumentError)
    }
    expect(() => accessControl({ maxConnectionsPerAddress: 0 })).toThrow(InvalidArgumentError)
  })

  it('counts admitted requests per address until released, refusing past the limit', () => {
    const access = new AccessControl({ maxConnectionsPerAddress: 2 })
    const [a, b, c] = [{}, {}, {}]
    expect(access.admit(a, { address: '::ffff:10.0.0.1', port: 1 })).toBeUndefined()
    expect(access.admit(b, { address: '10.0.0.1', port: 2 })).toBeUndefined() // the same address
    const refusal = access.admit(c, { address: '10.0.0.1', port: 3 })
    expect(refusal).toBeInstanceOf(AccessDeniedError)
    expect(refusal).toMatchObject({ code: 'SOCKSRV_ACCESS_DENIED', rule: 'limit', address: '10.0.0.1' })
    expect(access.admit({}, { address: '10.0.0.2', port: 1 })).toBeUndefined() // another address
    access.release(a)
    access.release(a) // idempotent
    expect(access.connectionsFrom('10.0.0.1')).toBe(1)
    expect(access.admit(c, '10.0.0.1')).toBeUndefined()
    expect(access.refused).toEqual({ denied: 0, limited: 1 })
  })
})

describe('the accessControl server option', () => {
  const subscribed: Array<[string, (message: unknown) => void]> = []
  afterEach(() => {
    for (const [name, fn] of subscribed.splice(0)) diagnostics.unsubscribe(name, fn)
  })

  it('refuses before verifyRequest, publishes the AccessDeniedError, and releases counts when requests end', async () => {
    const dropped: unknown[] = []
    const fn = (message: unknown) => dropped.push((message as { reason: unknown }).reason)
    diagnostics.subscribe('socketserver:request:dropped', fn)
    subscribed.push(['socketserver:request:dropped', fn])
    const finishers: Array<() => void> = []
    const verified: string[] = []
    class Held {
      constructor(readonly request: MemoryRequest) {}
      setup() {}
      handle() {
        return new Promise<void>((resolve) => finishers.push(resolve))
      }
      finish() {}
    }
    class Server extends EventLoopMemoryServer {
      override verifyRequest(_request: MemoryRequest, clientAddress: string) {
        verified.push(clientAddress)
        return true
      }
    }
    const server = new Server('mem', Held, {
      accessControl: { deny: ['10.6.6.6'], maxConnectionsPerAddress: 2 },
    })
    const loop = server.serveForever({ pollInterval: 10 })
    try {
      const denied = server.receive('10.6.6.6').request
      const first = server.receive('10.0.0.1').request
      server.receive('10.0.0.1')
      const third = server.receive('10.0.0.1').request
      await waitUntil(() => finishers.length === 2 && denied.isClosed && third.isClosed)
      expect(verified).toEqual(['10.0.0.1', '10.0.0.1'])
      expect(dropped.map((reason) => (reason as AccessDeniedError).rule)).toEqual(['deny', 'limit'])
      expect(server.accessControl?.connectionsFrom('10.0.0.1')).toBe(2)
      expect(first.isClosed).toBe(false)
      finishers[0]!()
      await waitUntil(() => first.isClosed)
      await waitUntil(() => server.accessControl?.connectionsFrom('10.0.0.1') === 1)
      const fourth = server.receive('10.0.0.1').request
      await waitUntil(() => finishers.length === 3)
      expect(fourth.isClosed).toBe(false)
      expect(server.accessControl?.refused).toEqual({ denied: 1, limited: 1 })
    } finally {
      for (const finish of finishers) finish()
      await server.shutdown()
      await server.serverClose()
      await loop
    }
  })

  it('releases a request that verifyRequest refuses', async () => {
    class Server extends EventLoopMemoryServer {
      override verifyRequest() {
        return false
      }
    }
    class Nothing {
      setup() {}
      handle() {}
      finish() {}
    }
    const server = new Server('mem', Nothing, { accessControl: { maxConnectionsPerAddress: 1 } })
    const loop = server.serveForever({ pollInterval: 10 })
    try {
      const a = server.receive('10.0.0.1').request
      const b = server.receive('10.0.0.1').request
      await waitUntil(() => a.isClosed && b.isClosed)
      expect(server.accessControl?.connectionsFrom('10.0.0.1')).toBe(0)
      expect(server.accessControl?.refused.limited).toBe(0)
    } finally {
      await server.shutdown()
      await server.serverClose()
      await loop
    }
  })
})
