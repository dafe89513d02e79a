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
  connections: number
  durationMs: number
  messageSize: number
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
}
