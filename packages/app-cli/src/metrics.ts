import type { MetricsEndpoint } from '@socketserver/metrics'
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

/** A `--metrics` endpoint that may still be waiting for its port. */
export interface MetricsService {
  /** `http://HOST:PORT/metrics`; `undefined` while it waits for the port (printed once it listens). */
  readonly url: string | undefined
  close(): Promise<void>
}

/**
 * Serves `--metrics`. A process started by a restart (SIGHUP)
 * shares the port with the process it replaces until that one stops accepting: on `EADDRINUSE` it
 * keeps trying in the background for `retryFor` ms, so readiness does not wait for the old drain.
 */
export async function startMetrics(
  address: MetricsAddress,
  { retryFor, say }: { retryFor: number; say(line: string): void },
): Promise<MetricsService> {
  // Loaded only when asked for: without --metrics, prom-client is not even imported.
  const { ServerMetrics, serveMetrics } = await import('@socketserver/metrics')
  // Made before the servers start: it sees each one as it begins listening.
  const metrics = new ServerMetrics({ processMetrics: true })
  let endpoint: MetricsEndpoint | undefined
  let closed = false
  const listen = async () => {
    endpoint = await serveMetrics({ ...address, metrics })
  }
  const inUse = (error: unknown) => (error as NodeJS.ErrnoException)?.code === 'EADDRINUSE'
  try {
    await listen()
  } catch (error) {
    if (!inUse(error) || retryFor <= 0) {
      metrics.close()
      throw error
    }
    const deadline = Date.now() + retryFor
    void (async () => {
      while (!closed && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100).unref())
        if (closed) return
        try {
          await listen()
          return say(`metrics on ${endpoint?.url}`)
        } catch (retry) {
          if (!inUse(retry)) break
        }
      }
      if (!closed) say(`--metrics: ${address.host}:${address.port} stayed in use; serving no metrics`)
    })()
  }
  return {
    get url() {
      return endpoint?.url
    },
    async close() {
      closed = true
      await endpoint?.close()
      metrics.close()
    },
  }
}
