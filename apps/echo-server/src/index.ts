export {
  createEchoHandler,
  createEchoStats,
  EchoHandler,
  type EchoHandlerOptions,
  type EchoStats,
} from './echo-handler.js'
export {
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_PORT,
  ECHO_MODES,
  type EchoListener,
  type EchoMode,
  type EchoServer,
  type EchoServerOptions,
  isEchoMode,
  type ListenerSpec,
  startEchoServer,
} from './server.js'
