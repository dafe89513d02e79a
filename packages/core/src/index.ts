// What users of @socketserver use. What transports and concurrency modes build on is in
// '@socketserver/core/transport' (transport.ts); the rest is internal.
export {
  AccessControl,
  type AccessControlCounters,
  type AccessControlOptions,
  accessControl,
} from './access-control.js'
export { type ChannelName, channels } from './channels.js'
export type { OversizedPacketPolicy } from './datagram-limit.js'
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
  InheritedSocketError,
  InheritedSocketMismatchError,
  InheritedSocketUnsupportedError,
  InvalidArgumentError,
  InvalidStateError,
  LineTooLongError,
  NativeModuleError,
  NoRequestError,
  NotASocketError,
  ProxyChecksumError,
  ProxyHeaderError,
  type ProxyHeaderReason,
  ProxyTimeoutError,
  ProxyUntrustedError,
  QueueFullError,
  ReadLimitError,
  RemoteHandlerError,
  RestartError,
  ReusePortUnsupportedError,
  type SerializedError,
  ServerClosedError,
  ServiceNotifyError,
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
} from './handler.js'
export { isHandlerWorker } from './handler-worker.js'
export { type InetAddress, type InetAddressInput, reusePortSupport, toInetAddress } from './inet-address.js'
export { type RequestRun, type RunningRequest, runHandler } from './lifecycle.js'
export {
  encodeProxyHeader,
  PP2_TYPE,
  PROXY_V2_SIGNATURE,
  type ProxyEndpoint,
  type ProxyHeader,
  type ProxyHeaderInit,
  ProxyHeaderParser,
  type ProxyParse,
  type ProxySSL,
  type ProxyTLV,
  parseProxyHeader,
} from './proxy-protocol/parser.js'
export {
  type ProxyInfo,
  type ProxyProtocolOptions,
  type ProxyProtocolSetting,
  proxyInfo,
} from './proxy-protocol/stage.js'
export { type HandedListener, type RestartOptions, type RestartResult, restartProcess } from './restart.js'
export {
  type AddressFamily,
  BaseServer,
  type BaseServerOptions,
  type ServeForeverOptions,
  type ShutdownGracefullyOptions,
  type SocketType,
} from './server.js'
export {
  type NotifySend,
  ServiceNotifier,
  type ServiceNotifierOptions,
} from './service-notify.js'
export { type ShutdownOnSignalsOptions, shutdownOnSignals } from './signals.js'
export {
  type DescriptorKind,
  describeDescriptor,
  type InheritedSocket,
  type ListenFd,
  listenFds,
} from './socket-activation.js'
