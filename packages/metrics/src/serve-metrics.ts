import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { InvalidArgumentError } from '@socketserver/core'
import { ServerMetrics, type ServerMetricsOptions } from './server-metrics.js'

/** The port `serveMetrics()` listens on by default (OpenTelemetry's Prometheus exporter's). */
export const DEFAULT_METRICS_PORT = 9464

/** What `serveMetrics()` takes. */
export interface ServeMetricsOptions {
  /** Address to listen on. Default: `'127.0.0.1'` (loopback: say `'0.0.0.0'` or `'::'` to expose it). */
  host?: string
  /** Port; `0` picks a free one. Default: `9464`. */
  port?: number
  /** The metrics to serve. Default: a new `ServerMetrics` (made with `options`), closed with the endpoint. */
  metrics?: ServerMetrics
  /** Options of the `ServerMetrics` made when `metrics` is not given. Default: `{}`. */
  options?: ServerMetricsOptions
}

/** A listening `/metrics` endpoint. */
export interface MetricsEndpoint {
  readonly metrics: ServerMetrics
  /** The bound address (port 0 resolved). */
  readonly address: { host: string; port: number }
  /** `http://HOST:PORT/metrics`. */
  readonly url: string
  /** The `node:http` server, to add routes or read its state. */
  readonly server: http.Server
  /** Stops listening and closes open scrape connections; closes `metrics` too if it made them. */
  close(): Promise<void>
}

/**
 * Serves the Prometheus text format on `GET /metrics` (and `HEAD`) with `node:http`. Anything
 * else answers 404 (another path) or 405 (another method). Resolves once listening; rejects with
 * the listen error (`EADDRINUSE`, ...) after closing what it made.
 */
export async function serveMetrics({
  host = '127.0.0.1',
  port = DEFAULT_METRICS_PORT,
  metrics,
  options,
}: ServeMetricsOptions = {}): Promise<MetricsEndpoint> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`serveMetrics(): port must be an integer from 0 to 65535; got ${port}`)
  }
  if (metrics !== undefined && options !== undefined) {
    throw new InvalidArgumentError(
      'serveMetrics(): pass metrics or options, not both (options make new metrics)',
    )
  }
  const owned = metrics === undefined
  const served = metrics ?? new ServerMetrics(options)
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (path !== '/metrics') return answer(res, 404, 'not found: the metrics are at /metrics\n')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      return answer(res, 405, 'method not allowed\n')
    }
    served.scrape().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': served.contentType, 'Content-Length': Buffer.byteLength(text) })
        res.end(req.method === 'HEAD' ? undefined : text)
      },
      (error: unknown) =>
        answer(res, 500, `collecting the metrics failed: ${(error as Error)?.message ?? error}\n`),
    )
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (error) {
    if (owned) served.close()
    throw error
  }
  const bound = server.address() as AddressInfo
  const address = { host: bound.address, port: bound.port }
  let closing: Promise<void> | undefined
  return {
    metrics: served,
    address,
    url: `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}/metrics`,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
        if (owned) served.close()
      })
      return closing
    },
  }
}

function answer(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' })
  res.end(text)
}
