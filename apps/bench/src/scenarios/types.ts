/**
 * How to start one server: a kind of `dist/server.js`, a kind of `python/servers.py`, or any command
 * keeping the same contract (one JSON ready line on stdout, exit when stdin closes).
 */
export type Launch = { node: string } | { python: string } | { command: string; args: string[] }

export interface ServerSpec {
  /** Short id used on the command line (`--servers`) and in JSON output. */
  id: string
  /** What the table prints. */
  label: string
  launch: Launch
  /**
   * Connections to use for this server instead of the run's `--connections` (for servers that
   * serve one connection at a time); such a row is reported but never compared.
   */
  connections?: number
  /** Printed under the table, e.g. why the configuration differs. */
  note?: string
  /** The load generator's workload for this server instead of the scenario's (a client variant). */
  workload?: string
}

export interface RunSettings {
  rounds: number
  durationMs: number
  warmupMs: number
  connections: number
  messageSize: number
}

/**
 * One ratio the scenario prints: subject / baseline of `metric`, the median of per-round ratios.
 * With a `target` it is a PASS/FAIL line (`>=` target, or `<=` when lower is better); without, it
 * is reported only.
 */
export interface ComparisonSpec {
  subject: string
  baseline: string
  target?: number
}

export type Metric =
  | 'requestsPerSecond'
  | 'megabytesPerSecond'
  | 'bytesPerConnection'
  | 'serverCpuUsPerRequest'

export interface Scenario {
  name: string
  description: string
  /** The load generator's workload (see loadgen/main.ts). */
  workload: string
  /** Servers this scenario knows, in the order rounds run them. */
  servers: ServerSpec[]
  /** Ids run when `--servers` is not given. */
  defaultServers: string[]
  /** Ids run in `--smoke` when `--servers` is not given (default: `defaultServers`). */
  smokeServers?: string[]
  full: RunSettings
  smoke: RunSettings
  /** What the comparisons compare (default requests/s); `bytesPerConnection` and `serverCpuUsPerRequest` are lower-is-better. */
  metric?: Metric
  /** Reply size when it is not an echo of the message (the CPU-bound handler answers a hash line). */
  replySize?: number
  /** A new server process for every round (idle memory: a reused heap would hide the growth). */
  freshServerPerRound?: boolean
  comparisons: ComparisonSpec[]
  /** What to know when reading the figures, printed under them and in the report. */
  remarks?: string[]
}
