// '@socketserver/core/transport': what transports and concurrency modes build on (users of
// servers need none of it). Internals (the request queue, the tracker) are not exported at all.
export { limitPacket, type PacketLimits } from './datagram-limit.js'
export { HANDLER_WORKER_MARK } from './handler-worker.js'
export {
  COMPLETED_STEP,
  kServeRequests,
  kWatchStep,
  offerStepPromise,
  type RequestHost,
  type RequestServer,
  type RunningRequest,
  type StepPromiseMaker,
  settleStep,
  type WatchedStep,
} from './lifecycle.js'
export { reportListenerError, watchDescriptors } from './listener-errors.js'
export {
  applyOptionTables,
  check,
  checkOptionValues,
  type OptionSpec,
  type OptionTable,
  optionTableOf,
} from './options.js'
export {
  builtEntry,
  handlerModuleUrl,
  loadHandlerClass,
  missingHandlerModule,
  publishWorker,
  rejectRequestServer,
  Waiters,
  type WorkerEvent,
} from './pool-support.js'
export { crc32c } from './proxy-protocol/crc32c.js'
export {
  type ConnectionHandoff,
  checkProxyProtocol,
  connectionHandoff,
  DEFAULT_HEADER_TIMEOUT,
  proxyProtocolOption,
  proxyProtocolStage,
  receiveHandoff,
  setProxyInfo,
} from './proxy-protocol/stage.js'
export {
  type Adoption,
  type AdoptionTarget,
  adoptDescriptor,
  listeningDescriptor,
  releaseDescriptor,
} from './socket-activation.js'
export {
  type CloseStreamOptions,
  closeStreamSocket,
  ignoreSocketError,
  LINGER_BYTES,
  lingeringStreamTransport,
} from './stream-close.js'
export { applyTLSDetails, type TLSDetails, tlsDetails } from './tls-details.js'
export type {
  Admission,
  ConnectionStage,
  DatagramTransport,
  ReplyTarget,
  StageCallback,
  StreamTransport,
  Transport,
} from './transport.js'
