export {
  HandlerModuleError,
  isHandlerWorker,
  RemoteHandlerError,
  WorkerExitedError,
} from '@socketserver/core'
export { canTransferSockets, type StreamPath } from './pool.js'
export {
  ThreadingMixIn,
  type ThreadingServer,
  type ThreadingServerClass,
  type ThreadingServerOptions,
} from './threading.js'
