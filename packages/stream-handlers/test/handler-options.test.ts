import dgram from 'node:dgram'
import net from 'node:net'
import { type InetAddress, InvalidArgumentError } from '@socketserver/core'
import { check, type OptionTable, optionTableOf } from '@socketserver/core/transport'
import {
  type DatagramRequest,
  DatagramRequestHandler,
  StreamRequestHandler,
} from '@socketserver/stream-handlers'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { connect, serve, until } from './helpers.js'

// Handler options are fields a subclass sets (`override timeout = 30_000`), checked against the
// class's `static readonly options` table once per class, in the first setup(). There is no check
// for unknown names: a handler's options are not a bag passed to a constructor but fields of the
// class, and any other field a subclass declares is its own state (`count = 0`), not a misspelt
// option. A misspelt one (`override timout = 5`) is caught by TypeScript instead: `override` on a
// member the base class lacks does not compile (noImplicitOverride).

const sockets: net.Socket[] = []
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy()
})

/** Runs setup() of a stream handler of class `Handler` on an unconnected socket; finish() after. */
type StreamHandlerClass = new (
  request: net.Socket,
  clientAddress: unknown,
  server: unknown,
) => StreamRequestHandler

function setUp(Handler: StreamHandlerClass): StreamRequestHandler {
  const socket = new net.Socket()
  sockets.push(socket)
  const handler = new Handler(socket, undefined, undefined)
  handler.setup()
  handler.finish()
  return handler
}

describe('StreamRequestHandler options', () => {
  it('keeps the defaults on the prototype, from its table', () => {
    const handler = setUp(StreamRequestHandler)
    expect(Object.keys(handler)).not.toContain('timeout')
    for (const [name, spec] of optionTableOf(StreamRequestHandler)) {
      expect(Object.hasOwn(StreamRequestHandler.prototype, name), name).toBe(true)
      expect((handler as unknown as Record<string, unknown>)[name], name).toBe(spec.default)
    }
  })

  it('accepts good values set in a subclass', () => {
    class Tuned extends StreamRequestHandler {
      override timeout = 30_000
      override idleTimeout = 0
      override disableNagleAlgorithm = true
      override maxLineLength = 1
    }
    expect(setUp(Tuned).timeout).toBe(30_000)
  })

  it.each([
    [
      'timeout',
      'soon',
      /option 'timeout' of Bad must be a duration in ms \(a finite number >= 0\) or null; got "soon"/,
    ],
    ['timeout', -1, /option 'timeout' of Bad must be a duration in ms/],
    ['idleTimeout', Number.POSITIVE_INFINITY, /option 'idleTimeout' of Bad must be a duration in ms/],
    ['maxLineLength', -1, /option 'maxLineLength' of Bad must be an integer >= 1; got -1/],
    ['maxReadSize', 1.5, /option 'maxReadSize' of Bad must be an integer >= 1; got 1.5/],
    ['writeChunkSize', 0, /option 'writeChunkSize' of Bad must be an integer >= 1; got 0/],
    ['disableNagleAlgorithm', 1, /option 'disableNagleAlgorithm' of Bad must be true or false; got 1/],
    [
      'requestTimeout',
      undefined,
      /option 'requestTimeout' of Bad must be a duration in ms .*; got undefined/,
    ],
    // An option holds data: it can never replace a method.
    ['timeout', () => 5, /option 'timeout' of Bad must be a duration in ms .*; got a function/],
  ])(
    'setup() rejects %s = %j with InvalidArgumentError naming the option and the class',
    (name, value, message) => {
      class Bad extends StreamRequestHandler {}
      Object.defineProperty(Bad.prototype, name, { value, writable: true })
      const error = (() => {
        try {
          setUp(Bad)
        } catch (thrown) {
          return thrown
        }
      })()
      expect(error).toBeInstanceOf(InvalidArgumentError)
      expect(error).toMatchObject({ code: 'SOCKSRV_INVALID_ARGUMENT' })
      expect((error as Error).message).toMatch(message)
    },
  )

  it('checks a subclass field (an own property of each instance)', () => {
    class Soon extends StreamRequestHandler {
      override timeout = 'soon' as any
    }
    expect(() => setUp(Soon)).toThrow(/option 'timeout' of Soon must be/)
    // A class that failed is checked again, and fails again, on its next request.
    expect(() => setUp(Soon)).toThrow(InvalidArgumentError)
  })

  it('checks once per class: later handlers of a class that passed are not checked again', () => {
    class Once extends StreamRequestHandler {}
    setUp(Once)
    // A value that changes after the first check (only a per-instance value assigned in a
    // constructor could) is not seen: the per-request cost is one WeakSet lookup.
    ;(Once.prototype as { maxLineLength: number }).maxLineLength = -1
    expect(() => setUp(Once)).not.toThrow()
    // Each class has its own check: a subclass of a class that passed is checked.
    class Sub extends Once {}
    expect(() => setUp(Sub)).toThrow(/option 'maxLineLength' of Sub/)
  })

  it("checks a subclass's own options, merged with the base class's", () => {
    class Greeter extends StreamRequestHandler {
      static override readonly options: OptionTable = { greeting: { default: 'hello', check: check.string } }
      declare greeting: string
      static {
        Greeter.prototype.greeting = 'hello'
      }
    }
    class Silent extends Greeter {
      override greeting = ''
    }
    expect((setUp(Greeter) as Greeter).greeting).toBe('hello')
    expect(() => setUp(Silent)).toThrow(/option 'greeting' of Silent must be a non-empty string; got ""/)
    class SlowGreeter extends Greeter {
      override timeout = 'slow' as any
    }
    expect(() => setUp(SlowGreeter)).toThrow(/option 'timeout' of SlowGreeter/)
  })

  it('a server reports a bad option through handleError, as any setup error', async () => {
    class Misconfigured extends StreamRequestHandler {
      override maxLineLength = -1
      override async handle() {
        await this.wfile.write('unreachable')
      }
    }
    const server = await serve(Misconfigured)
    try {
      const client = await connect(server.port)
      sockets.push(client)
      await until(() => server.errors.length > 0)
      expect(server.errors[0]).toBeInstanceOf(InvalidArgumentError)
      expect((server.errors[0] as Error).message).toContain("option 'maxLineLength' of Misconfigured")
    } finally {
      await server.close()
    }
  })
})

describe('DatagramRequestHandler options', () => {
  // Never bound: setup() only keeps it (a reply would leave through it in finish(), not called here).
  const socket = dgram.createSocket('udp4')
  afterAll(() => socket.close())

  type DatagramHandlerClass = new (
    request: DatagramRequest,
    clientAddress: InetAddress,
    server: unknown,
  ) => DatagramRequestHandler

  function setUpDatagram(Handler: DatagramHandlerClass): DatagramRequestHandler {
    const handler = new Handler(
      [Buffer.from('hi\n'), socket],
      { address: '127.0.0.1', port: 9, family: 'IPv4' },
      undefined,
    )
    handler.setup()
    return handler
  }

  it('keeps the defaults on the prototype and accepts good values', () => {
    const handler = setUpDatagram(DatagramRequestHandler)
    expect(Object.keys(handler)).not.toContain('maxReplySize')
    expect(handler.wfile.maxSize).toBe(65_507)
    class Confirming extends DatagramRequestHandler {
      override confirmReplies = true
      override maxReplySize = 512
    }
    expect(setUpDatagram(Confirming).wfile.maxSize).toBe(512)
  })

  it.each([
    ['maxReplySize', -1, /option 'maxReplySize' of Bad must be an integer >= 0; got -1/],
    ['maxLineLength', '80', /option 'maxLineLength' of Bad must be an integer >= 1; got "80"/],
    ['confirmReplies', 'yes', /option 'confirmReplies' of Bad must be true or false; got "yes"/],
  ])('setup() rejects %s = %j', (name, value, message) => {
    class Bad extends DatagramRequestHandler {}
    Object.defineProperty(Bad.prototype, name, { value, writable: true })
    expect(() => setUpDatagram(Bad)).toThrow(InvalidArgumentError)
    expect(() => setUpDatagram(Bad)).toThrow(message)
  })
})
