import { type ChatLimits, type ChatStats, createChatStats, DEFAULT_LIMITS } from './handler.js'
import { DEFAULT_SERVER_NAME, IrcChatHandler } from './irc-protocol.js'
import { LineChatHandler } from './line-protocol.js'
import type { ChatNode } from './node.js'

export interface ChatHandlerOptions {
  /** The node users live on, or how to get it (connected once, on first use). */
  node: ChatNode | (() => Promise<ChatNode>)
  /** Per-client limits. Default: `DEFAULT_LIMITS`. */
  limits?: Partial<ChatLimits>
  /** Counters to update. Default: fresh ones. */
  stats?: ChatStats
  /** The server's name in IRC replies. Default: `'socketserver.chat'`. */
  serverName?: string
}

export interface ChatHandlers {
  LineHandler: typeof LineChatHandler
  IrcHandler: typeof IrcChatHandler
  stats: ChatStats
}

/** Handler classes for both protocols, bound to one node, limits and counters. */
export function createChatHandlers({
  node,
  limits,
  stats = createChatStats(),
  serverName,
}: ChatHandlerOptions): ChatHandlers {
  const resolved: ChatLimits = { ...DEFAULT_LIMITS, ...limits }
  const chatNode = typeof node === 'function' ? node : () => node
  class ConfiguredLineChatHandler extends LineChatHandler {
    override limits = resolved
    override stats = stats
    override chatNode = chatNode
  }
  class ConfiguredIrcChatHandler extends IrcChatHandler {
    override limits = resolved
    override stats = stats
    override serverName = serverName ?? DEFAULT_SERVER_NAME
    override chatNode = chatNode
  }
  return { LineHandler: ConfiguredLineChatHandler, IrcHandler: ConfiguredIrcChatHandler, stats }
}
