export {
  DEFAULT_METRICS_PORT,
  type MetricsEndpoint,
  type ServeMetricsOptions,
  serveMetrics,
} from './serve-metrics.js'
export { serverLabel } from './server-label.js'
export {
  type AddServerOptions,
  DEFAULT_DURATION_BUCKETS,
  ServerMetrics,
  type ServerMetricsOptions,
} from './server-metrics.js'
