import { integer, UsageError } from './options.js'

/** Where `--metrics` serves `GET /metrics`. */
export interface MetricsAddress {
  host: string
  port: number
}

/** `--metrics HOST:PORT` (`[::1]:PORT` for IPv6), `undefined` when absent; else a `UsageError`. */
export function metricsAddress(raw: string | undefined): MetricsAddress | undefined {
  if (raw === undefined) return undefined
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(raw)
  if (!match) throw new UsageError(`--metrics ${raw}: expected HOST:PORT (IPv6 as [::1]:PORT)`)
  return { host: match[1] ?? match[2]!, port: integer('--metrics: the port', match[3], 0, 65535) }
}
