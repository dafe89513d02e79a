import { type ChildProcess, spawn } from 'node:child_process'
import type { Readable } from 'node:stream'
import { RestartError } from './errors.js'
import type { BaseServer } from './server.js'
import { READY_FD_ENV, type ServiceNotifier } from './service-notify.js'
import { LISTEN_FDS_START, LISTEN_PARENT_ENV, LISTEN_PATHS_ENV } from './socket-activation.js'

/** One listening server to hand over, and the name its descriptor goes by (`LISTEN_FDNAMES`). */
export interface HandedListener {
  readonly server: BaseServer<any, any, any>
  readonly name?: string
}

export interface RestartOptions {
  /** How long the new process may take to say it is ready, in ms. Default: `30000`. */
  readyTimeout?: number
  /** How long requests in flight here may run once the new process serves, in ms. Default: `10000`. */
  drainTimeout?: number
  /** The program to start. Default: this one (`process.execPath`). */
  command?: string
  /** Its arguments. Default: this process's (`process.execArgv`, then `process.argv` after the program). */
  args?: string[]
  /** Its environment, to which the descriptor variables are added. Default: `process.env`. */
  env?: NodeJS.ProcessEnv
  /** Told that this process is no longer the main one, so it stays quiet (no `STOPPING=1`). */
  notifier?: ServiceNotifier
  /** Called once the new process is ready, before this one stops accepting (to log it, say). */
  onReady?: (pid: number) => void
}

export interface RestartResult {
  /** The new process. */
  pid: number
  /** Requests here cut short at `drainTimeout`. */
  aborted: number
}

/**
 * Restarts without refusing a connection, as nginx's binary upgrade and HAProxy's seamless reload
 * do: starts a new process of this program with the servers' listening sockets (systemd's socket
 * activation variables: it adopts them with `listenFds()` and the `inherited` option), waits until
 * it says it is ready (`ServiceNotifier.ready()`), then closes the listeners here and drains the
 * requests in flight (`shutdownGracefully`). The sockets stay open throughout, in one process or
 * both, so the kernel keeps queueing connections and datagrams: none is refused or lost.
 *
 * Rejects with `RestartError` (the new process is killed, this one serves on) if it exits or is
 * not ready within `readyTimeout`. Resolves once this process has drained: it should then exit.
 * docs/decisions/0015-socket-activation-and-restart.md has the design; docs/deploy.md the use.
 */
export async function restartProcess(
  listeners: ReadonlyArray<HandedListener>,
  options: RestartOptions = {},
): Promise<RestartResult> {
  const { drainTimeout = 10_000, notifier, onReady } = options
  const pid = await spawnSuccessor(listeners, options)
  notifier?.handedOver()
  for (const { server } of listeners) server.listenerHandedOver()
  onReady?.(pid)
  const results = await Promise.all(
    listeners.map(({ server }) => server.shutdownGracefully({ timeout: drainTimeout })),
  )
  return { pid, aborted: results.reduce((sum, r) => sum + r.aborted, 0) }
}

/**
 * Starts the new process with the listeners' descriptors at 3, 4, ... (`LISTEN_FDS`,
 * `LISTEN_FDNAMES`, and `SOCKETSERVER_LISTEN_PARENT` naming this process in place of
 * `LISTEN_PID`) and a pipe after them for its `READY=1`; resolves with its pid once it wrote that.
 */
async function spawnSuccessor(
  listeners: ReadonlyArray<HandedListener>,
  {
    readyTimeout = 30_000,
    command = process.execPath,
    args = [...process.execArgv, ...process.argv.slice(1)],
    env = process.env,
  }: RestartOptions,
): Promise<number> {
  let fds: number[]
  try {
    fds = listeners.map(({ server }) => server.fileno())
  } catch (error) {
    throw new RestartError(`cannot hand over the listeners: ${(error as Error).message}`, { cause: error })
  }
  const readyFd = LISTEN_FDS_START + fds.length
  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    LISTEN_FDS: String(fds.length),
    LISTEN_FDNAMES: listeners.map(({ name = '' }) => name.replaceAll(':', '_')).join(':'),
    [LISTEN_PARENT_ENV]: String(process.pid),
    [LISTEN_PATHS_ENV]: JSON.stringify(
      listeners.map(({ server }) => (typeof server.serverAddress === 'string' ? server.serverAddress : null)),
    ),
    [READY_FD_ENV]: String(readyFd),
  }
  // Both name this process; the child checks its parent instead (LISTEN_PARENT), and feeds the
  // watchdog as the main process once systemd follows it (MAINPID=).
  delete childEnv.LISTEN_PID
  delete childEnv.WATCHDOG_PID
  let child: ChildProcess
  try {
    child = spawn(command, args, { env: childEnv, stdio: ['inherit', 'inherit', 'inherit', ...fds, 'pipe'] })
  } catch (error) {
    throw new RestartError(`cannot start the new process: ${(error as Error).message}`, { cause: error })
  }
  const pipe = child.stdio[readyFd] as Readable | null
  let timer: NodeJS.Timeout | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      let said = ''
      pipe?.setEncoding('utf8')
      pipe?.on('data', (chunk: string) => {
        said += chunk
        if (said.includes('READY=1')) resolve()
      })
      child.once('error', (error) =>
        reject(new RestartError(`cannot start the new process: ${error.message}`, { cause: error })),
      )
      child.once('exit', (code, signal) =>
        reject(new RestartError(`the new process exited (${signal ?? `code ${code}`}) before it was ready`)),
      )
      timer = setTimeout(
        () => reject(new RestartError(`the new process was not ready within ${readyTimeout} ms`)),
        readyTimeout,
      )
    })
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  } finally {
    clearTimeout(timer)
    pipe?.destroy()
  }
  child.removeAllListeners()
  child.unref()
  return child.pid!
}
