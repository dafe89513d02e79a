// '@socketserver/core/transport': what transports and concurrency modes build on (users of
// servers need none of it). Internals (the request queue, the tracker) are not exported at all.
export { limitPacket, type PacketLimits } from './datagram-limit.js'
export { HANDLER_WORKER_MARK } from './handler-worker.js'
export {
  COMPLETED_STEP,
  kWatchStep,
  offerStepPromise,
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
  Waiters,
  type WorkerEvent,
} from './pool-support.js'
export {
  type CloseStreamOptions,
  closeStreamSocket,
  LINGER_BYTES,
  lingeringStreamTransport,
} from './stream-close.js'
export type { DatagramTransport, ReplyTarget, StreamTransport, Transport } from './transport.js'
