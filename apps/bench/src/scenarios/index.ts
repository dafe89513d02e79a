import {
  bulk,
  cpuBound,
  haproxyScale,
  idle,
  proxyConnect,
  tcpConnect,
  tcpPingPong,
  tlsConnect,
  tlsPingPong,
  udpPingPong,
  unixPingPong,
} from './all.js'
import { rpcTcpGet, rpcTcpNull, rpcUdpGet, rpcUdpNull } from './sunrpc.js'
import type { Scenario } from './types.js'

export type { ComparisonSpec, Launch, Metric, RunSettings, Scenario, ServerSpec } from './types.js'

/** Every scenario `--scenario` accepts, in the order a full run takes them. */
export const scenarios: Scenario[] = [
  tcpPingPong,
  tcpConnect,
  udpPingPong,
  unixPingPong,
  bulk,
  idle,
  cpuBound,
  rpcTcpNull,
  rpcTcpGet,
  rpcUdpNull,
  rpcUdpGet,
  tlsPingPong,
  tlsConnect,
  proxyConnect,
  haproxyScale,
]
