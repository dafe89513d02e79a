export * from './bus/index.js'
export {
  ChatHandler,
  type ChatLimits,
  type ChatStats,
  createChatStats,
  DEFAULT_LIMITS,
  SocketSession,
} from './handler.js'
export { type ChatHandlerOptions, type ChatHandlers, createChatHandlers } from './handlers.js'
export { IrcChatHandler, IrcSession, parseIrcLine } from './irc-protocol.js'
export { LINE_HELP, LineChatHandler, LineSession } from './line-protocol.js'
export { type ChatLoadOptions, type ChatLoadReport, runChatLoad } from './load.js'
export { ChatNode, type RegisterResult, Session } from './node.js'
export * from './server.js'
export { decodeLine, fold, isValidNick, plain, roomName, sanitize } from './text.js'
