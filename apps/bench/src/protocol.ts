import type { LatencySummary } from './stats.js'

/**
 * The harness talks to the load generator over Node's IPC channel (it is always our own Node
 * process). Servers are language-agnostic instead: see `servers/main.ts` for their contract.
 */

/** One measured run of a workload against one server. */
export interface RunRequest {
  type: 'run'
  id: number
  workload: string
  host: string
  port: number
  /** A Unix socket path: connect there instead of host:port. */
  path?: string
  connections: number
  durationMs: number
  messageSize: number
  /** Bytes each request gets back when it is not an echo (then only its length and final '\n' are checked). */
  replySize?: number
  /** Worker threads to split the connections over (1: the load generator's main thread). */
  threads?: number
  /** The server's pid, for workloads that read its memory from /proc (idle connections). */
  serverPid?: number
}

export interface RunResult {
  /** Round trips completed inside the measured window. */
  requests: number
  /** Length of the measured window, ms. */
  elapsedMs: number
  latency: LatencySummary
  /** Load generator CPU over the window (process.cpuUsage), µs. */
  cpuUserUs: number
  cpuSystemUs: number
  /** Times the load generator went to sleep over the window (voluntary context switches). */
  voluntaryContextSwitches: number
  /** Load generator event-loop utilisation over the window, 0..1: near 1 means it was the bottleneck. */
  eventLoopUtilization: number
  /** Connections that failed, closed early or echoed wrong bytes. */
  errors: number
  firstError?: string
  /** Idle connections: the server's resident memory before connecting and with every connection open, bytes. */
  serverRssBefore?: number
  serverRssAfter?: number
  /** UDP: datagrams given up on (no answer in time) and sent again. */
  lost?: number
}

export type ParentMessage = RunRequest | { type: 'exit' }

export type LoadgenMessage =
  | { type: 'ready'; pid: number }
  | { type: 'result'; id: number; result: RunResult }
  | { type: 'error'; id: number; message: string }

/** What a server child prints, as one JSON line on stdout, once it listens. */
export interface ServerReady {
  ready: true
  host: string
  port: number
  pid: number
  /** A Unix socket server's path. */
  path?: string
}
