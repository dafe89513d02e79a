import { closeSync, writeSync } from 'node:fs'
import { ServiceNotifyError } from './errors.js'
import type { BaseServer } from './server.js'

/**
 * systemd's readiness protocol (`sd_notify(3)`): the service manager puts the address of a Unix
 * datagram socket in `NOTIFY_SOCKET`, and the service sends it `KEY=VALUE` lines: `READY=1`,
 * `STOPPING=1`, `STATUS=...`, `WATCHDOG=1`, `MAINPID=...`. Node cannot send a Unix datagram
 * (`node:dgram` has no `AF_UNIX`), so the sending is given by the caller: `open` (the Unix
 * transport's `notifySocketSender`, on its native datagram socket).
 */

/** Sends one notification datagram to the service manager. */
export type NotifySend = (message: Buffer, address: string) => Promise<void>

/** Set by `restartProcess()` for its new process: the descriptor of a pipe to write `READY=1` to. */
export const READY_FD_ENV = 'SOCKETSERVER_READY_FD'

export interface ServiceNotifierOptions {
  /** Sends a datagram to `NOTIFY_SOCKET`'s address. Without it, only a restart's readiness pipe is told. */
  send?: NotifySend
  /** What `STATUS=` says about the watched servers. Default: their open connections and queued requests. */
  status?: (servers: ReadonlyArray<BaseServer<any, any, any>>) => string
  /** How often `STATUS=` is refreshed (when it changed), in ms. Default: `2000`. */
  statusInterval?: number
}

/**
 * Tells the service manager how the service is doing: readiness, stopping, a status line, and the
 * watchdog's keep-alive. Does nothing when `NOTIFY_SOCKET` is unset (and no restart waits for it).
 *
 * The watchdog (`WatchdogSec=`: `WATCHDOG_USEC`, for this pid) is fed from the serve loops, not
 * from a timer alone: every half period it sends `WATCHDOG=1` only if each watched server's serve
 * loop has turned since the last ping (`serveLoopTurns`). A loop stuck on a request, or an event
 * loop blocked by synchronous work (then no timer runs at all), stops the pings, and the manager
 * restarts the service. Loops turn at least every `pollInterval` (500 ms by default), so
 * `WatchdogSec=` must be more than twice that.
 */
export class ServiceNotifier {
  /** `NOTIFY_SOCKET`: a path, or `@name` for an abstract socket. */
  readonly socket: string | undefined
  /** `WATCHDOG_USEC` in ms, when the watchdog is on for this process. */
  readonly watchdogMs: number | undefined
  readonly #send: NotifySend | undefined
  readonly #status: (servers: ReadonlyArray<BaseServer<any, any, any>>) => string
  readonly #statusInterval: number
  // Set by restartProcess() in its new process: readiness goes there too, with MAINPID=.
  #readyFd: number | undefined
  readonly #successor: boolean
  #handedOver = false
  #timers: NodeJS.Timeout[] = []
  #lastStatus = ''
  #failureReported = false

  constructor({ send, status = defaultStatus, statusInterval = 2_000 }: ServiceNotifierOptions = {}) {
    const env = process.env
    this.socket = env.NOTIFY_SOCKET || undefined
    const usec = Number(env.WATCHDOG_USEC)
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid
    this.watchdogMs = usec > 0 && forUs ? usec / 1000 : undefined
    const readyFd = env[READY_FD_ENV]
    delete env[READY_FD_ENV]
    this.#readyFd = readyFd !== undefined && /^\d+$/.test(readyFd) ? Number(readyFd) : undefined
    this.#successor = this.#readyFd !== undefined
    this.#send = send
    this.#status = status
    this.#statusInterval = statusInterval
  }

  /** Whether anyone listens: `NOTIFY_SOCKET` is set, or a restart waits for this process. */
  get enabled(): boolean {
    return this.socket !== undefined || this.#readyFd !== undefined
  }

  /**
   * Sends `state` (newline-separated `KEY=VALUE` lines) to `NOTIFY_SOCKET`; resolves at once when it
   * is unset. Rejects with `ServiceNotifyError` (no sender given, an abstract address the datagram
   * library cannot reach, the manager gone).
   */
  async notify(state: string): Promise<void> {
    if (this.socket === undefined) return
    if (!this.#send)
      throw new ServiceNotifyError('NOTIFY_SOCKET is set but no datagram sender was given (option send)')
    const address = this.socket.startsWith('@') ? `\0${this.socket.slice(1)}` : this.socket
    try {
      await this.#send(Buffer.from(state), address)
    } catch (error) {
      throw new ServiceNotifyError(
        `cannot notify the service manager at ${this.socket}: ${(error as Error)?.message ?? error}`,
        { cause: error },
      )
    }
  }

  /**
   * `READY=1` with a status line. In a process started by `restartProcess()`, also `MAINPID=` (so
   * that systemd, with `NotifyAccess=all`, follows the new process) and the word to the old one.
   */
  async ready(status?: string): Promise<void> {
    const readyFd = this.#readyFd
    if (readyFd !== undefined) {
      this.#readyFd = undefined
      try {
        writeSync(readyFd, 'READY=1\n')
        closeSync(readyFd)
      } catch {
        // the old process is gone: nobody to tell
      }
    }
    const lines = [
      this.#successor ? `MAINPID=${process.pid}` : '',
      'READY=1',
      status ? `STATUS=${status}` : '',
    ]
    await this.notify(lines.filter(Boolean).join('\n'))
  }

  /**
   * `STOPPING=1` (the drain began), and the watchdog stops. Not after `handedOver()`: the manager
   * follows the new process by then, and would take it for the service stopping.
   */
  async stopping(status?: string): Promise<void> {
    this.#stopTimers()
    if (this.#handedOver) return
    await this.notify(status ? `STOPPING=1\nSTATUS=${status}` : 'STOPPING=1')
  }

  /** This process handed its sockets to a new one, which is now the service's main process: stay quiet. */
  handedOver(): void {
    this.#handedOver = true
    this.#stopTimers()
  }

  /**
   * Keeps the manager informed about `servers` until `stopping()`, `handedOver()` or `close()`:
   * `STATUS=` when it changes, and `WATCHDOG=1` every half `WATCHDOG_USEC` while every serve loop
   * keeps turning (see the class). Errors are printed once to stderr, never thrown.
   */
  watch(servers: ReadonlyArray<BaseServer<any, any, any>>): void {
    if (this.socket === undefined || this.#handedOver) return
    const report = (error: unknown) => {
      if (this.#failureReported) return
      this.#failureReported = true
      process.stderr.write(`socketserver: ${(error as Error)?.message ?? error}\n`)
    }
    const statusTimer = setInterval(() => {
      const status = this.#status(servers)
      if (status === this.#lastStatus) return
      this.#lastStatus = status
      this.notify(`STATUS=${status}`).catch(report)
    }, this.#statusInterval)
    statusTimer.unref()
    this.#timers.push(statusTimer)
    if (this.watchdogMs === undefined) return
    let turns = servers.map((server) => server.serveLoopTurns)
    const watchdogTimer = setInterval(() => {
      const now = servers.map((server) => server.serveLoopTurns)
      const alive = now.every((n, i) => n !== turns[i])
      turns = now
      if (alive) this.notify('WATCHDOG=1').catch(report)
    }, this.watchdogMs / 2)
    watchdogTimer.unref()
    this.#timers.push(watchdogTimer)
  }

  /** Stops the status and watchdog timers. */
  close(): void {
    this.#stopTimers()
  }

  #stopTimers(): void {
    for (const timer of this.#timers) clearInterval(timer)
    this.#timers = []
  }
}

function defaultStatus(servers: ReadonlyArray<BaseServer<any, any, any>>): string {
  let active = 0
  let queued = 0
  for (const server of servers) {
    active += server.activeRequestCount
    queued += server.queuedRequestCount
  }
  return `${active} connection(s) open, ${queued} queued, on ${servers.length} listener(s)`
}
