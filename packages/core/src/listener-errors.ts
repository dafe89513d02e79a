import { channels } from './channels.js'

const lastReport = new WeakMap<object, { at: number; suppressed: number }>()
const REPORT_INTERVAL_MS = 10_000

/**
 * For errors of a listening socket (EMFILE on accept, ...), which must not crash the process:
 * publishes every one on `socketserver:server:error` and prints at most one line per server
 * every 10 s, with a count of what it held back, so descriptor exhaustion cannot flood the log.
 */
export function reportListenerError(server: object, error: Error): void {
  if (channels.serverError.hasSubscribers) channels.serverError.publish({ server, error })
  const now = Date.now()
  const last = lastReport.get(server)
  if (last && now - last.at < REPORT_INTERVAL_MS) {
    last.suppressed++
    return
  }
  const held = last?.suppressed ? ` (${last.suppressed} more since the last report)` : ''
  process.stderr.write(`socketserver: listener error: ${error.message}${held}\n`)
  lastReport.set(server, { at: now, suppressed: 0 })
}
