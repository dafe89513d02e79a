import { closeSync, openSync } from 'node:fs'
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

const WATCH_INTERVAL_MS = 1_000
const NULL_DEVICE = process.platform === 'win32' ? '\\\\.\\NUL' : '/dev/null'

/**
 * Watches a listening stream server for descriptor exhaustion, which it could not see otherwise:
 * on EMFILE, libuv closes a descriptor it keeps in reserve, accepts and closes every waiting
 * connection (their clients see a reset), and tells Node nothing. So, once a second while
 * listening, the watch opens and closes the null device; EMFILE or ENFILE there is reported as a
 * listener error (`reportListenerError`: published, logged at most once per 10 s). Returns the
 * function that stops the watch. The timer never keeps the process alive.
 */
export function watchDescriptors(server: object): () => void {
  const timer = setInterval(() => {
    let fd: number | undefined
    try {
      fd = openSync(NULL_DEVICE, 'r')
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EMFILE' || code === 'ENFILE') {
        reportListenerError(
          server,
          Object.assign(
            // a system error, as Node's
            new Error(
              `${code}: out of file descriptors; new connections are being closed as they arrive (raise ulimit -n or serve fewer at once)`,
            ),
            { code, syscall: 'accept' },
          ),
        )
      }
    } finally {
      if (fd !== undefined) closeSync(fd)
    }
  }, WATCH_INTERVAL_MS)
  timer.unref()
  return () => clearInterval(timer)
}
