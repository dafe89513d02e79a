import type { Socket } from 'node:net'
import { LineTooLongError, SocketTimeoutError } from '@socketserver/core'
import { StreamRequestHandler } from '@socketserver/stream-handlers'
import { TokenBucketLimiter } from '@socketserver/transport-udp'
import { type ChatNode, Session } from './node.js'
import { decodeLine } from './text.js'

/** What one client may do; the same for both protocols. */
export interface ChatLimits {
  /** Longest line a client may send, in bytes, line ending included; a longer one closes the connection. Default: `1024`. */
  maxLineLength: number
  /** Lines a client may send per second, on average; past it lines are dropped with a notice. Default: `5`. */
  messageRate: number
  /** Lines a client may send at once before `messageRate` applies. Default: `20`. */
  messageBurst: number
  /** Output a client has not read, in bytes, before it is disconnected rather than buffered for. Default: `262144`. */
  maxOutputBuffer: number
  /** Silence, in ms, after which the client is asked whether it is there (IRC: `PING`); as long again and it is disconnected. `null`: never. Default: `300000`. */
  idleTimeout: number | null
}

export const DEFAULT_LIMITS: ChatLimits = {
  maxLineLength: 1024,
  messageRate: 5,
  messageBurst: 20,
  maxOutputBuffer: 256 * 1024,
  idleTimeout: 300_000,
}

/** What the handlers of one node count: for the shutdown summary and the tests. */
export interface ChatStats {
  connections: number
  /** Chat lines relayed (room and private messages). */
  messages: number
  /** Lines dropped for exceeding `messageRate`. */
  rateLimited: number
  /** Lines dropped for not being UTF-8. */
  invalidLines: number
  /** Connections closed for a line over `maxLineLength`. */
  longLines: number
  /** Connections closed for not reading their output (`maxOutputBuffer`). */
  slowConsumers: number
  /** Connections closed after `idleTimeout` twice over. */
  idleClosed: number
}

export function createChatStats(): ChatStats {
  return {
    connections: 0,
    messages: 0,
    rateLimited: 0,
    invalidLines: 0,
    longLines: 0,
    slowConsumers: 0,
    idleClosed: 0,
  }
}

/** A session on a socket: writes go straight to it, bounded by `maxOutputBuffer`. */
export abstract class SocketSession extends Session {
  /** Set once the client was dropped for not reading. */
  overflowed = false

  constructor(
    readonly socket: Socket,
    user: string,
    host: string,
    readonly maxOutputBuffer: number,
  ) {
    super(user, host)
  }

  /**
   * Queues `text` for the client without waiting: one slow reader must not hold up the sender or
   * anyone else. A client whose unread output would pass `maxOutputBuffer` is disconnected.
   */
  write(text: string): void {
    const socket = this.socket
    if (this.overflowed || socket.destroyed) return
    if (socket.writableLength + Buffer.byteLength(text) > this.maxOutputBuffer) {
      this.overflowed = true
      socket.destroy()
      return
    }
    socket.write(text)
  }

  /** Last words before the server closes the connection. */
  abstract farewell(reason: string): void

  disconnect(reason: string): void {
    this.farewell(reason)
    // Closed once the farewell is flushed; the reader then sees the end. (Not destroySoon(): in the
    // thread pool on Node < 26 the socket is a Duplex proxy, which has only the stream methods.)
    const socket = this.socket
    socket.end(() => socket.destroy())
  }
}

/**
 * What both protocols share: read lines within the limits, turn each into a command, and leave the
 * chat cleanly however the connection ends. Subclasses parse and answer.
 */
export abstract class ChatHandler<S extends SocketSession = SocketSession> extends StreamRequestHandler {
  override disableNagleAlgorithm = true
  limits: ChatLimits = DEFAULT_LIMITS
  stats: ChatStats = createChatStats()
  protected node!: ChatNode
  protected session!: S
  #rate!: TokenBucketLimiter
  #lastRateNotice = Number.NEGATIVE_INFINITY
  /** Why the client left, for the others (`/quit` or `QUIT` may say). */
  protected quitReason = 'connection closed'

  /** Gives the node this handler's users live on; `createChatHandlers()` sets it. */
  chatNode: () => ChatNode | Promise<ChatNode> = () => {
    throw new TypeError('a chat handler needs a node: make its class with createChatHandlers()')
  }
  protected abstract createSession(): S
  /** First words to the client. */
  protected abstract greet(): void
  /** Handles one line; false ends the connection. */
  protected abstract command(line: string): Promise<boolean>
  /** Tells the client something went wrong with what it sent. */
  protected abstract notice(text: string): void
  /** Asks a silent client whether it is still there. */
  protected abstract probe(): void

  override async setup(): Promise<void> {
    this.maxLineLength = this.limits.maxLineLength
    this.timeout = this.limits.idleTimeout
    super.setup()
    this.node = await this.chatNode()
    this.session = this.createSession()
    this.#rate = new TokenBucketLimiter({
      rate: this.limits.messageRate,
      burst: this.limits.messageBurst,
      maxTracked: 1,
    })
    this.stats.connections++
  }

  override async handle(): Promise<void> {
    this.greet()
    let probed = false
    for (;;) {
      let raw: Buffer
      try {
        raw = await this.rfile.readline()
      } catch (error) {
        if (error instanceof SocketTimeoutError && !probed) {
          probed = true
          this.probe()
          continue
        }
        if (error instanceof SocketTimeoutError) {
          this.stats.idleClosed++
          this.quitReason = 'idle timeout'
        } else if (error instanceof LineTooLongError) {
          this.stats.longLines++
          this.quitReason = 'line too long'
        } else return // the connection failed: nothing to say to it
        this.session.farewell(this.quitReason)
        return
      }
      probed = false
      if (raw.length === 0) return // the client closed
      const line = decodeLine(raw)
      if (line === null) {
        this.stats.invalidLines++
        this.notice('that line was not valid UTF-8 and was ignored')
        continue
      }
      if (line.trim() === '') continue
      if (!this.#rate.take('')) {
        this.stats.rateLimited++
        const now = performance.now()
        if (now - this.#lastRateNotice >= 1000) {
          this.#lastRateNotice = now
          this.notice(`slow down: at most ${this.limits.messageRate} lines a second; that line was dropped`)
        }
        continue
      }
      if (!(await this.command(line))) return
      if (this.session.overflowed) break
    }
  }

  override async finish(): Promise<void> {
    if (this.session?.overflowed) {
      this.stats.slowConsumers++
      this.quitReason = 'not reading (output queue full)'
    }
    try {
      if (this.session) await this.node.quit(this.session, this.quitReason)
    } finally {
      super.finish()
    }
  }
}
