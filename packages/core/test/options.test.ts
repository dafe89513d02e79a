import { BaseRequestHandler, InvalidArgumentError } from '@socketserver/core'
import { check, type OptionTable, optionTableOf } from '@socketserver/core/transport'
import { describe, expect, it } from 'vitest'
import { EventLoopMemoryServer, MemoryServer } from './helpers/memory-server.js'

const make = (options: object) =>
  new EventLoopMemoryServer('memory', BaseRequestHandler, { bindAndActivate: false, ...options })

describe('option tables: one convention for every server option', () => {
  it('assigns defaults, then the values given, once (no field initialiser undoes them)', () => {
    const server = make({ requestQueueSize: 5, maxConcurrentRequests: 3, timeout: 250 })
    expect(server.requestQueueSize).toBe(5)
    expect(server.maxConcurrentRequests).toBe(3) // a mix-in's option
    expect(server.timeout).toBe(250)
    expect(make({}).requestQueueSize).toBe(511)
    expect(make({}).maxConcurrentRequests).toBe(Number.POSITIVE_INFINITY)
  })

  it('rejects an unknown option name, naming it and listing the known ones', () => {
    const error = () => make({ requestQueueSise: 5 })
    expect(error).toThrow(InvalidArgumentError)
    expect(error).toThrow(/has no option 'requestQueueSise'; its options are: .*requestQueueSize/)
  })

  it('never lets an option replace a method', () => {
    expect(() => make({ serveForever: 42 })).toThrow(/has no option 'serveForever'/)
    expect(() => make({ processRequest: () => {} })).toThrow(/has no option 'processRequest'/)
    expect(typeof make({}).serveForever).toBe('function')
  })

  it.each([
    ['timeout', 'soon', /option 'timeout' .* must be a duration in ms .* or null; got "soon"/],
    ['blockOnClose', 1, /option 'blockOnClose' .* must be true or false; got 1/],
    ['requestQueueSize', -1, /option 'requestQueueSize' .* must be an integer from 0/],
    ['maxQueuedRequests', 1.5, /option 'maxQueuedRequests' .* must be an integer >= 1 or Infinity; got 1.5/],
    [
      'maxConcurrentRequests',
      0,
      /option 'maxConcurrentRequests' .* must be an integer >= 1 or Infinity; got 0/,
    ],
    ['accessControl', 'everyone', /option 'accessControl' .* must be an AccessControl or its options/],
    ['timeout', () => 1, /got a function/],
  ])('rejects %s = %s with the expected kind of value', (name, value, message) => {
    let error: unknown
    try {
      make({ [name]: value })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect((error as InvalidArgumentError).code).toBe('SOCKSRV_INVALID_ARGUMENT')
    expect((error as Error).message).toMatch(message)
  })

  it('treats undefined as "the default"', () => {
    expect(make({ timeout: undefined }).timeout).toBeNull()
  })

  it('merges a subclass table over its ancestors, the nearest declaration winning', () => {
    class Custom extends MemoryServer {
      static override readonly options: OptionTable = {
        requestQueueSize: { default: 5, check: check.integer({ max: 10 }) },
        greeting: { default: 'hi', check: check.string },
      }
      declare greeting: string
    }
    const server = new Custom('memory', BaseRequestHandler, { bindAndActivate: false })
    expect([server.requestQueueSize, server.greeting]).toEqual([5, 'hi'])
    expect(
      () => new Custom('memory', BaseRequestHandler, { bindAndActivate: false, requestQueueSize: 11 }),
    ).toThrow(/from 0 to 10/)
    expect([...optionTableOf(Custom).keys()]).toContain('blockOnClose')
  })

  it('rejects options that are not an object', () => {
    expect(() => new MemoryServer('memory', BaseRequestHandler, 'fast' as never)).toThrow(
      /options must be an object/,
    )
  })
})
