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
): TBase & ServerConstructor<InstanceType<TBase> & EventLoopServer> {
  abstract class EventLoopMixInServer extends Base implements EventLoopServer {
    maxConcurrentRequests = Number.POSITIVE_INFINITY

    constructor(...args: any[]) {
      super(...args)
      this.applyOptions() // the field initialiser above ran after BaseServer copied the options
    }

    override processRequest(request: unknown, clientAddress: unknown): Promise<void> | undefined {
      this.trackRequest(request, clientAddress, this.#processInBackground(request, clientAddress))
      if (this.activeRequestCount < this.maxConcurrentRequests) return undefined
      return this.whenActiveBelow(this.maxConcurrentRequests)
    }

    // Python's ThreadingMixIn.process_request_thread, on the event loop.
    #processInBackground(request: unknown, clientAddress: unknown): Promise<void> {
      const shutdown = () => {
        try {
          this.shutdownRequest(request)
        } catch {
          // already closed
        }
      }
      let finished: Promise<void> | void
      try {
        finished = this.finishRequest(request, clientAddress)
      } catch (error) {
        finished = Promise.reject(error)
      }
      return Promise.resolve(finished).then(shutdown, async (error: unknown) => {
        try {
          await this.reportError(request, clientAddress, error)
        } finally {
          shutdown()
        }
      })
    }
  }
  return EventLoopMixInServer as unknown as TBase & ServerConstructor<InstanceType<TBase> & EventLoopServer>
}
