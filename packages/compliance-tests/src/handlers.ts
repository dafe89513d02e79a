// The compliance suite's request handlers, in a module of their own so that servers whose
// handlers run in worker threads or child processes (ThreadingMixIn, ForkingMixIn) can import
// them: `@socketserver/compliance-tests/handlers`. In process, the suite builds them over the
// setup's `HandlerBase` and `io`, and they record into the test's memory; the exports below are
// the remote ones, which report to the test process over a socket (see report.ts).
import { BaseRequestHandler } from '@socketserver/core'
import { datagramIO } from './datagram.js'
import { reportClient } from './report.js'
import { streamIO } from './stream.js'
import type { HandlerIO, SuiteHandler } from './types.js'

/** What the suite's handlers need from where they run. */
export interface SuiteHandlerContext {
  io: HandlerIO
  /** Records `event` where the test reads it; resolves once it is recorded. */
  report(event: string): Promise<void> | void
  /** Resolves once the test opens its gate (at once when it has none). */
  gate(): Promise<void>
}

type Handler = BaseRequestHandler<any, any, any>
/** A handler class of the suite. */
export type SuiteHandlerClass = new (request: any, clientAddress: any, server: any) => Handler

/** The suite's handlers, by the name each class has (and is exported under). */
export interface SuiteHandlers {
  /** Python's `MyHandler`: reads one message and writes it back. */
  EchoHandler: SuiteHandlerClass
  /** Reports `handle`, then echoes. */
  CountingHandler: SuiteHandlerClass
  /** Reports `construct` when constructed (before `setup()` goes on), then echoes. */
  ConstructedHandler: SuiteHandlerClass
  /** Reads one message, calls `this.server.shutdown()`, then echoes it. */
  StopperHandler: SuiteHandlerClass
  /** Reports `Handler called`, then throws `Error('Test error')` (ErrorHandlerTest's BadHandler). */
  BadHandler: SuiteHandlerClass
  /** Throws `Error('boom')` on `boom\n`, echoes anything else. */
  FlakyHandler: SuiteHandlerClass
  /** Reports `setup`, `handle NAME`, `finish`; throws `Error('boom')` on `boom`. */
  OrderedHandler: SuiteHandlerClass
  /** Reports `handle start`, waits for the gate, echoes, then reports `handle end` (even if the write failed). */
  BlockingHandler: SuiteHandlerClass
  /** Reports `start NAME`, waits for the gate if NAME is `slow`, echoes, reports `end NAME`. */
  SlowHandler: SuiteHandlerClass
}

/** Builds the suite's handlers over `Base`, reading and writing with `ctx.io`, reporting to `ctx`. */
export function defineSuiteHandlers(Base: SuiteHandlerClass, ctx: SuiteHandlerContext): SuiteHandlers {
  const { io } = ctx

  class EchoHandler extends Base {
    override async handle() {
      await io.write(this, await io.read(this))
    }
  }

  class CountingHandler extends EchoHandler {
    override async handle() {
      await ctx.report('handle')
      await super.handle()
    }
  }

  const constructed = new WeakMap<object, Promise<void> | void>()
  class ConstructedHandler extends EchoHandler {
    constructor(request: any, clientAddress: any, server: any) {
      super(request, clientAddress, server)
      constructed.set(this, ctx.report('construct'))
    }
    override async setup() {
      await constructed.get(this)
      await super.setup()
    }
  }

  class StopperHandler extends Base {
    override async handle() {
      const message = await io.read(this)
      await this.server.shutdown()
      await io.write(this, message)
    }
  }

  class BadHandler extends Base {
    override async handle() {
      await ctx.report('Handler called')
      throw new Error('Test error')
    }
  }

  class FlakyHandler extends Base {
    override async handle() {
      const message = await io.read(this)
      if (message.toString() === 'boom\n') throw new Error('boom')
      await io.write(this, message)
    }
  }

  class OrderedHandler extends Base {
    override async setup() {
      await super.setup()
      await ctx.report('setup')
    }
    override async handle() {
      const message = await io.read(this)
      await ctx.report(`handle ${message.toString().trim()}`)
      if (message.toString() === 'boom\n') throw new Error('boom')
      await io.write(this, message)
    }
    override async finish() {
      await ctx.report('finish')
      await super.finish()
    }
  }

  class BlockingHandler extends Base {
    override async handle() {
      const message = await io.read(this)
      await ctx.report('handle start')
      await ctx.gate()
      try {
        await io.write(this, message)
      } finally {
        await ctx.report('handle end')
      }
    }
  }

  class SlowHandler extends Base {
    override async handle() {
      const message = await io.read(this)
      const name = message.toString().trim()
      await ctx.report(`start ${name}`)
      if (name === 'slow') await ctx.gate()
      await io.write(this, message)
      await ctx.report(`end ${name}`)
    }
  }

  return {
    EchoHandler,
    CountingHandler,
    ConstructedHandler,
    StopperHandler,
    BadHandler,
    FlakyHandler,
    OrderedHandler,
    BlockingHandler,
    SlowHandler,
  }
}

/** A Unix datagram socket's reply call: `send(data, path)` resolving once sent. */
interface PathReplySocket {
  send(data: Uint8Array, path: string): Promise<void>
}

/**
 * `HandlerIO` for any transport, as remote handlers need one without a setup: a request that is
 * Python's `(data, socket)` pair, `[packet, socket]`, is a datagram (replies go to a Unix client's
 * path, or to `{ address, port }` as `datagramIO` does); any other request is a stream (`streamIO`).
 */
export const messageIO: HandlerIO = {
  read(handler: SuiteHandler): Promise<Buffer> {
    return Array.isArray(handler.request) ? datagramIO.read(handler) : streamIO.read(handler)
  },
  write(handler: SuiteHandler, data: Buffer): Promise<void> {
    if (!Array.isArray(handler.request)) return streamIO.write(handler, data)
    if (typeof handler.clientAddress !== 'string') return datagramIO.write(handler, data)
    return (handler.request[1] as PathReplySocket).send(data, handler.clientAddress)
  },
}

/** The context of remote handlers: `messageIO`, and reports over `COMPLIANCE_REPORT_ENV`'s socket. */
export const remoteContext: SuiteHandlerContext = {
  io: messageIO,
  report: (event) => reportClient().send('event', event),
  gate: () => reportClient().send('gate'),
}

// The remote handlers, each exported under its class name (what `handlerExport` names).
export const {
  EchoHandler,
  CountingHandler,
  ConstructedHandler,
  StopperHandler,
  BadHandler,
  FlakyHandler,
  OrderedHandler,
  BlockingHandler,
  SlowHandler,
} = defineSuiteHandlers(BaseRequestHandler, remoteContext)
