import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Scenario, ServerSpec } from './types.js'

/**
 * Sun RPC: @socketserver/sunrpc's KV_PROG server against the same program built by rpcgen and
 * libtirpc from the same kv.x (the native reference), NULL and a small GET, over TCP and UDP.
 * The C server is compiled when it starts (src/native/kv-server.sh); without rpcgen, a C compiler
 * or libtirpc's headers it is left out and a remark says so.
 */
const script = fileURLToPath(new URL('../src/native/kv-server.sh', import.meta.url))
const missing = [
  ...['rpcgen', 'cc'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0),
  ...(existsSync('/usr/include/tirpc/rpc/rpc.h') ? [] : ['libtirpc-dev']),
]

const node: ServerSpec = {
  id: 'sunrpc-node',
  label: '@socketserver/sunrpc on EventLoopTCPServer / EventLoopUDPServer',
  launch: { node: 'rpc-kv' },
}
const c: ServerSpec = {
  id: 'rpcgen-c',
  label: 'rpcgen + libtirpc C server (svc_run)',
  launch: { command: 'sh', args: [script] },
}
const ids = missing.length === 0 ? [node.id, c.id] : [node.id]
const remarks = [
  'The C server is single-threaded (svc_run), as rpcgen generates it; the Node server runs on one event loop.',
  "Every call carries a new xid, so the Node server's reply cache never answers for the procedure.",
  'The C server can keep the load generator near 100% busy: its rate is then a floor; compare CPU per call.',
  ...(missing.length === 0
    ? []
    : [`rpcgen C server left out: ${missing.join(', ')} missing (Debian: rpcsvc-proto, gcc, libtirpc-dev)`]),
]

function rpcScenario(name: string, description: string, workload: string): Scenario {
  return {
    name,
    description,
    workload,
    servers: [node, c],
    defaultServers: ids,
    full: { rounds: 5, durationMs: 2_000, warmupMs: 500, connections: 16, messageSize: 0 },
    smoke: { rounds: 1, durationMs: 250, warmupMs: 100, connections: 4, messageSize: 0 },
    comparisons: missing.length === 0 ? [{ subject: node.id, baseline: c.id }] : [],
    remarks,
  }
}

export const rpcTcpNull = rpcScenario(
  'rpc-tcp-null',
  'Sun RPC NULL over TCP on 127.0.0.1: each connection keeps one call in flight',
  'rpc-tcp-null',
)
export const rpcTcpGet = rpcScenario(
  'rpc-tcp-get',
  'Sun RPC KVPROC_GET (9-byte key, 32-byte value) over TCP on 127.0.0.1, one call in flight per connection',
  'rpc-tcp-get',
)
export const rpcUdpNull = rpcScenario(
  'rpc-udp-null',
  'Sun RPC NULL over UDP on 127.0.0.1: each socket keeps one call in flight',
  'rpc-udp-null',
)
export const rpcUdpGet = rpcScenario(
  'rpc-udp-get',
  'Sun RPC KVPROC_GET (9-byte key, 32-byte value) over UDP on 127.0.0.1, one call in flight per socket',
  'rpc-udp-get',
)
