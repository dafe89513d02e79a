export { type MetricsAddress, metricsAddress } from './metrics.js'
export {
  type ArgvValues,
  choice,
  choiceList,
  integer,
  MAX_TIMER_MS,
  parseArgv,
  UsageError,
} from './options.js'
export { PROXY_ARGS, PROXY_USAGE, proxyProtocolSetting } from './proxy.js'
export { type BaseCliOptions, type CliApp, type RunningServers, runCli, say } from './run.js'
export {
  type InheritedListener,
  inheritedListeners,
  type ListenTransport,
  type ReloadOptions,
  reloadOnSighup,
  type ServiceControl,
  serviceControl,
} from './service.js'
export { TLS_ARGS, TLS_USAGE, tlsFiles } from './tls.js'
