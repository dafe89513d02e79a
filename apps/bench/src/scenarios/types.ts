/** How to start one server: a kind of `dist/server.js`, or any command keeping the same contract. */
export type Launch = { node: string } | { command: string; args: string[] }

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
}

export interface RunSettings {
  rounds: number
  durationMs: number
  warmupMs: number
  connections: number
  messageSize: number
}

export interface Scenario {
  name: string
  description: string
  /** The load generator's workload (see loadgen/main.ts). */
  workload: string
  /** Servers this scenario knows, in the order rounds run them. */
  servers: ServerSpec[]
  /** Ids run when `--servers` is not given. */
  defaultServers: string[]
  full: RunSettings
  smoke: RunSettings
  /** The pass/fail line: subject's requests/s at least `target` × baseline's. */
  compare: { subject: string; baseline: string; target: number }
}
