import type { BaseServer } from './server.js'

export interface ShutdownOnSignalsOptions {
  /** Signals that start a graceful shutdown. Default: `['SIGINT', 'SIGTERM']`. */
  signals?: NodeJS.Signals[]
  /** How long in-flight requests may run after the first signal, in ms. Default: `10000`. */
  timeout?: number
  /** Called when a signal arrives, before shutting down (e.g. to log). */
  onSignal?: (signal: NodeJS.Signals) => void
  /** Called once every server has closed; the default sets `process.exitCode = 0`. */
  onClosed?: (result: { aborted: number }) => void
}

/**
 * Drains servers on SIGINT/SIGTERM: stop accepting, let in-flight requests finish for up to
 * `timeout`, then cut the rest short. A second signal exits at once (code 128 + signal number).
 * Returns a function that removes the signal handlers.
 */
export function shutdownOnSignals(
  servers: ReadonlyArray<BaseServer<any, any, any>>,
  { signals = ['SIGINT', 'SIGTERM'], timeout = 10_000, onSignal, onClosed }: ShutdownOnSignalsOptions = {},
): () => void {
  let draining = false
  const handler = (signal: NodeJS.Signals) => {
    if (draining) {
      process.exit(128 + (signalNumbers[signal] ?? 15))
    }
    draining = true
    onSignal?.(signal)
    void Promise.all(servers.map((server) => server.shutdownGracefully({ timeout }))).then((results) => {
      const aborted = results.reduce((sum, r) => sum + r.aborted, 0)
      if (onClosed) onClosed({ aborted })
      else process.exitCode = 0
      remove()
    })
  }
  const remove = () => {
    for (const signal of signals) process.off(signal, handler)
  }
  for (const signal of signals) process.on(signal, handler)
  return remove
}

const signalNumbers: Partial<Record<NodeJS.Signals, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGTERM: 15,
}
