export { receiveAll, receiveLine } from './client.js'
export { connectDatagram, type DatagramClient, datagramIO } from './datagram.js'
export { Harness } from './harness.js'
export { serverComplianceTests, TEST_STR } from './server-suite.js'
export { connectStream, type StreamClient, streamIO } from './stream.js'
export type {
  AnyServer,
  ComplianceClient,
  HandlerIO,
  ServerClass,
  ServerComplianceSetup,
  SuiteHandler,
} from './types.js'
export {
  canCountFileDescriptors,
  Gate,
  openFileDescriptorCount,
  settle,
  type WaitForOptions,
  waitFor,
} from './util.js'
