import { type ChildProcess, fork, type StdioOptions } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { HandlerModuleError, RemoteHandlerError, WorkerExitedError } from '@socketserver/core'
import { builtEntry, HANDLER_WORKER_MARK } from '@socketserver/core/transport'
import type { ChildSetup, ToChild, ToParent } from './protocol.js'

/**
 * Environment variables a child gets by default: what Node itself reads, nothing of the
 * application's (secrets stay in the parent). Pass `env` to choose.
 */
export const DEFAULT_CHILD_ENV_KEYS = [
  'PATH',
  'TZ',
  'LANG',
  'LC_ALL',
  'TMPDIR',
  'NODE_OPTIONS',
  'NODE_EXTRA_CA_CERTS',
  'SYSTEMROOT',
] as const

/** The children's default environment: the `DEFAULT_CHILD_ENV_KEYS` the parent has. Spread it to add your own. */
export function defaultChildEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const key of DEFAULT_CHILD_ENV_KEYS) if (process.env[key] !== undefined) env[key] = process.env[key]
  return env
}

/** The parent's own flags, less the debugger's (a second inspector on the same port fails). */
export function defaultExecArgv(): string[] {
  return process.execArgv.filter((flag) => !/^--(inspect|debug)/.test(flag))
}

export interface SpawnOptions extends ChildSetup {
  env: NodeJS.ProcessEnv
  stdio: StdioOptions
  execArgv: string[]
}

/** A request handed to a child and not yet finished. */
export interface Pending {
  request: unknown
  clientAddress: unknown
  resolve(): void
  /** Datagram replies the parent is still sending. */
  sends: Promise<void>[]
  timer?: NodeJS.Timeout
  timedOut?: boolean
  /** The child has the socket (stream requests); until then the parent keeps its copy open. */
  passed?: boolean
  /** What was sent to the child when it is not `request` (a TLS connection's plaintext end). */
  handle?: unknown
  /** Called when the child has the socket (starts a TLS connection's bridge). */
  onPassed?: () => void
}

/** One child process and the requests it is handling. */
export class ForkedChild {
  readonly process: ChildProcess
  readonly pid: number
  readonly inFlight = new Map<number, Pending>()
  /** Requests given to it so far (for `maxRequestsPerChild`). */
  assigned = 0
  retiring = false
  /** Per-request mode: chosen for a request not yet sent to it (closing must not retire it). */
  reserved = false
  exited = false
  isReady = false
  readonly ready: Promise<void>
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  onMessage: ((message: ToParent) => void) | undefined

  constructor(options: SpawnOptions) {
    const stdio: StdioOptions = Array.isArray(options.stdio)
      ? [...options.stdio.filter((s) => s !== 'ipc'), 'ipc']
      : [options.stdio, options.stdio, options.stdio, 'ipc']
    // The child entry: next to this file once built; from the sources (tests), the built one.
    const entry = fileURLToPath(builtEntry(import.meta.url, 'child.js', '@socketserver/concurrency-fork'))
    this.process = fork(entry, [], {
      env: { ...options.env, [HANDLER_WORKER_MARK]: '1' },
      execArgv: options.execArgv,
      stdio,
      serialization: 'advanced',
    })
    this.pid = this.process.pid ?? -1
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      this.process.once('exit', (code, signal) => {
        this.exited = true
        resolve({ code, signal })
      })
    })
    // 'exit' can come before the last IPC messages are read (a 'done' sent just before exiting):
    // the child's requests are settled only once the channel has been read to its end too.
    const drained = new Promise<void>((resolve) => {
      if (!this.process.connected) resolve()
      else this.process.once('disconnect', resolve)
    })
    this.exit = exited.then(async (status) => {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, 1_000)))])
      clearTimeout(timer)
      return status
    })
    this.process.on('error', () => {}) // a failed send or kill; the exit event reports the rest
    this.ready = new Promise<void>((resolve, reject) => {
      const onExit = ({ code, signal }: { code: number | null; signal: NodeJS.Signals | null }) =>
        reject(
          new HandlerModuleError(
            `child process ${this.pid} exited (${signal ? `signal ${signal}` : `code ${code}`}) before loading the handler from ${options.handlerModule}`,
          ),
        )
      void this.exit.then(onExit)
      this.process.on('message', (message: ToParent) => {
        if (message.t === 'ready') {
          this.isReady = true
          resolve()
        } else if (message.t === 'init-error') {
          const cause = new RemoteHandlerError(message.error, `child process ${this.pid}`)
          reject(
            new HandlerModuleError(
              `a child process could not load the request handler ${options.handlerExport ?? options.className} from ${options.handlerModule}: ${message.error.message}. Export the handler class from that module, pass handlerModule: import.meta.url, and guard the server's start-up with if (!isHandlerWorker())`,
              { cause },
            ),
          )
          this.kill()
        } else {
          this.onMessage?.(message)
        }
      })
    })
    this.ready.catch(() => {})
    const { env: _env, stdio: _stdio, execArgv: _execArgv, ...setup } = options
    this.send({ t: 'init', ...setup })
  }

  get load(): number {
    return this.inFlight.size
  }

  send(message: ToChild, handle?: unknown, callback?: (error: Error | null) => void): boolean {
    if (this.exited || !this.process.connected) {
      callback?.(new WorkerExitedError(`child process ${this.pid}`, null))
      return false
    }
    // keepOpen: the parent closes its copy of a socket once the child says it has it, so a child
    // that dies before that cannot leave the connection open (held by a handle in flight).
    return this.process.send(message, handle as never, handle ? { keepOpen: true } : undefined, callback)
  }

  /** Takes no more requests; exits once those in flight are done. */
  retire(): void {
    if (this.retiring) return
    this.retiring = true
    this.send({ t: 'retire' })
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.process.kill(signal)
  }
}
