import { check, type OptionTable } from './options.js'
import type { BaseServer } from './server.js'

export type ServerConstructor<T extends BaseServer<any, any, any> = BaseServer<any, any, any>> =
  abstract new (
    ...args: any[]
  ) => T

/** Options `EventLoopMixIn` adds (also fields of the same name). */
export interface EventLoopServerOptions {
  /** Requests processed at once; past this, new requests wait in the queue. Default: `Infinity`. */
  maxConcurrentRequests?: number
}

/** What `EventLoopMixIn` adds to a server. */
export interface EventLoopServer {
  /**
   * Requests processed at once; past this, new requests wait in the queue (and past
   * `maxQueuedRequests`, are dropped). Default: `Infinity`.
   */
  maxConcurrentRequests: number
}

/**
 * Node's own concurrency: every request's handler runs at once on the one event loop, interleaved
 * at each `await`. This is the mode most Node servers want (handlers that do I/O, not CPU work);
 * use the thread or fork packages for CPU-bound or blocking handlers.
 *
 * `class EventLoopTCPServer extends EventLoopMixIn(TCPServer) {}`
 */
export function EventLoopMixIn<TBase extends ServerConstructor>(
  Base: TBase,
): TBase & ServerConstructor<InstanceType<TBase> & EventLoopServer>
export function EventLoopMixIn(Base: ServerConstructor) {
  abstract class EventLoopMixInServer extends Base implements EventLoopServer {
    static readonly options: OptionTable = {
      maxConcurrentRequests: {
        default: Number.POSITIVE_INFINITY,
        check: check.integer({ min: 1, infinite: true }),
      },
    }

    declare maxConcurrentRequests: number

    /** Starts the request's lifecycle and returns at once (it goes on at each step that waits). */
    override processRequest(request: unknown, clientAddress: unknown): Promise<void> | undefined {
      this.runRequest(request, clientAddress)
      if (this.activeRequestCount < this.maxConcurrentRequests) return undefined
      return this.whenActiveBelow(this.maxConcurrentRequests)
    }
  }
  return EventLoopMixInServer
}
