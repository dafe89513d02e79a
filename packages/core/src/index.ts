export {
  AccessControl,
  type AccessControlCounters,
  type AccessControlOptions,
  accessControl,
} from './access-control.js'
export { type ChannelName, channels } from './channels.js'
export { limitPacket, type OversizedPacketPolicy, type PacketLimits } from './datagram-limit.js'
export {
  AccessDeniedError,
  AlreadyServingError,
  BindError,
  ConnectionClosedError,
  DatagramTooLargeError,
  type ErrorCode,
  FrameTooLargeError,
  formatAddress,
  HandlerModuleError,
  HandlerTimeoutError,
  InvalidArgumentError,
  LineTooLongError,
  NotASocketError,
  QueueFullError,
  ReadLimitError,
  RemoteHandlerError,
  ReusePortUnsupportedError,
  type SerializedError,
  ServerClosedError,
  SocketPathTooLongError,
  SocketServerError,
  SocketTimeoutError,
  type TimeoutOperation,
  WorkerExitedError,
} from './errors.js'
export {
  EventLoopMixIn,
  type EventLoopServer,
  type EventLoopServerOptions,
  type ServerConstructor,
} from './event-loop.js'
export {
  BaseRequestHandler,
  type HookResult,
  type RequestHandler,
  type RequestHandlerClass,
  runHandler,
} from './handler.js'
export { HANDLER_WORKER_MARK, isHandlerWorker } from './handler-worker.js'
export { type InetAddress, type InetAddressInput, reusePortSupport, toInetAddress } from './inet-address.js'
export { reportListenerError, watchDescriptors } from './listener-errors.js'
export { RequestQueue } from './request-queue.js'
export { RequestTracker, type TrackedNode } from './request-tracker.js'
export {
  type AddressFamily,
  BaseServer,
  type BaseServerOptions,
  type ServeForeverOptions,
  type ShutdownGracefullyOptions,
  type SocketType,
} from './server.js'
export { type ShutdownOnSignalsOptions, shutdownOnSignals } from './signals.js'
export { type CloseStreamOptions, closeStreamSocket, LINGER_BYTES } from './stream-close.js'
