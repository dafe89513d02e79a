/**
 * The chat handlers as worker threads and child processes load them (`handlerModule` points here).
 * Each worker is one node: it connects to the bus named in the environment on first use (the
 * server's hub, or Redis) and keeps that connection for its lifetime. Importing it starts nothing.
 */
import { connectBus } from './bus/index.js'
import { createChatHandlers } from './handlers.js'
import { ChatNode } from './node.js'

export const BUS_ENV = 'SOCKETSERVER_CHAT_BUS'
export const LIMITS_ENV = 'SOCKETSERVER_CHAT_LIMITS'
export const SERVER_NAME_ENV = 'SOCKETSERVER_CHAT_NAME'
export const REDIS_PREFIX_ENV = 'SOCKETSERVER_CHAT_REDIS_PREFIX'

let node: Promise<ChatNode> | undefined
const chatNode = () => {
  node ??= connectBus(process.env[BUS_ENV] ?? 'memory', { prefix: process.env[REDIS_PREFIX_ENV] }).then(
    (bus) => new ChatNode(bus),
  )
  return node
}

const { LineHandler, IrcHandler } = createChatHandlers({
  node: chatNode,
  limits: JSON.parse(process.env[LIMITS_ENV] ?? '{}'),
  serverName: process.env[SERVER_NAME_ENV],
})

export class PooledLineChatHandler extends LineHandler {}
export class PooledIrcChatHandler extends IrcHandler {}
