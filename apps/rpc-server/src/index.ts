export * from './kv-program.js'
export {
  DEFAULT_HOST,
  DEFAULT_PORT,
  type ListenerSpec,
  MAX_RECORD_SIZE,
  RPC_MODES,
  type RpcListener,
  type RpcMode,
  type RpcServer,
  type RpcServerOptions,
  startRpcServer,
} from './server.js'
