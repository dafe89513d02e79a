export { type MessageSocket, messageClient, receiveAll, receiveLine } from './client.js'
export { connectDatagram, type DatagramClient, datagramIO } from './datagram.js'
export {
  defineSuiteHandlers,
  messageIO,
  type SuiteHandlerClass,
  type SuiteHandlerContext,
  type SuiteHandlers,
} from './handlers.js'
export { freePort, type HAProxy, startHAProxy } from './haproxy.js'
export { Harness } from './harness.js'
export {
  PROXY_BAD_HEADERS,
  PROXY_GOOD_HEADERS,
  type ProxyBadHeader,
  type ProxyGoodHeader,
  proxyExchange,
} from './proxy-corpus.js'
export { COMPLIANCE_REPORT_ENV } from './report.js'
export { serverComplianceTests, TEST_STR } from './server-suite.js'
export {
  forEachTransport,
  SocketPaths,
  type TransportServers,
  type TransportSetup,
  tcpSetup,
  tlsSetup,
  type UnixDatagramSocketClass,
  udpSetup,
  unixDatagramSetup,
  unixStreamSetup,
} from './setups.js'
export { connectStream, connectTLS, type StreamClient, streamIO } from './stream.js'
export type {
  AnyServer,
  ComplianceClient,
  HandlerIO,
  RemoteSetup,
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
