import { type ChildProcess, fork, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { LoadgenMessage, RunRequest, RunResult, ServerReady } from './protocol.js'

/**
 * Every process the harness starts is registered here and killed when the harness exits, however
 * it exits: normally, on an error, or on SIGINT/SIGTERM/SIGHUP.
 */
const children = new Set<ChildProcess>()
/**
 * Servers run in a process group of their own (`detached`), led by the process the harness started:
 * killing the group also ends what they started (a fork pool's children, Python's forked handlers).
 * Groups stay registered after their leader exits, until killed.
 */
const groups = new Set<number>()

function track(child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL')
  } catch {
    // the group is gone already
  }
  groups.delete(pgid)
}

/** Kills every child still running and every server's group (synchronous, so it works inside an 'exit' handler). */
export function killAllChildren(): void {
  for (const child of children) if (alive(child)) child.kill('SIGKILL')
  for (const pgid of [...groups]) killGroup(pgid)
}

let installed = false
/** Kills the children on exit and on signals; call once at start. */
export function installCleanup(): void {
  if (installed) return
  installed = true
  process.on('exit', killAllChildren)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping ${children.size} child process(es)\n`)
      killAllChildren()
      process.exit(130)
    })
  }
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (!alive(child)) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

/** Asks politely, then kills after `graceMs`. */
async function stopChild(child: ChildProcess, ask: () => void, graceMs: number): Promise<void> {
  if (!alive(child)) return
  ask()
  if (!(await waitExit(child, graceMs))) {
    child.kill('SIGKILL')
    await waitExit(child, 1_000)
  }
}

/** Keeps the last `max` characters a child wrote on stderr, to show when something fails. */
function tail(child: ChildProcess, max = 4_000): () => string {
  let text = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    text = (text + chunk).slice(-max)
  })
  return () => text
}

export interface ServerProcess {
  pid: number
  port: number
  host: string
  /** A Unix socket server's path. */
  path: string | undefined
  /** stderr so far (last few KB). */
  stderr(): string
  exited(): boolean
  stop(): Promise<void>
}

/** Starts a server process and resolves once it printed its ready line (see servers/main.ts). */
export async function startServerProcess(
  command: string,
  args: string[],
  {
    timeoutMs = 10_000,
    name = command,
    env = process.env,
  }: { timeoutMs?: number; name?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ServerProcess> {
  const child = track(spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env }))
  if (child.pid !== undefined) groups.add(child.pid)
  const stderr = tail(child)
  const lines = createInterface({ input: child.stdout! })
  let timer: NodeJS.Timeout | undefined
  try {
    const ready = await new Promise<ServerReady>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms`)), timeoutMs)
      child.once('error', reject)
      child.once('exit', (code, signal) =>
        reject(new Error(`${name} exited (${signal ?? code}) before it was ready:\n${stderr()}`)),
      )
      lines.on('line', (line) => {
        try {
          const message = JSON.parse(line) as ServerReady
          if (message.ready === true && (typeof message.port === 'number' || message.path)) resolve(message)
        } catch {
          // not our line; a server may print other things
        }
      })
    })
    child.removeAllListeners('exit')
    child.once('exit', () => children.delete(child))
    return {
      pid: child.pid!,
      port: ready.port,
      host: ready.host,
      path: ready.path,
      stderr,
      exited: () => !alive(child),
      stop: async () => {
        await stopChild(child, () => child.stdin?.end(), 5_000)
        killGroup(child.pid!) // what it started and left behind
      },
    }
  } catch (error) {
    killGroup(child.pid!)
    child.kill('SIGKILL')
    throw error
  } finally {
    clearTimeout(timer)
  }
}

export interface Loadgen {
  pid: number
  run(request: Omit<RunRequest, 'type' | 'id'>, timeoutMs: number): Promise<RunResult>
  stop(): Promise<void>
}

/** Starts the load generator process (Node, with an IPC channel). */
export async function startLoadgen(entry: string, execArgv: string[] = []): Promise<Loadgen> {
  const child = track(fork(entry, [], { execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] }))
  const stderr = tail(child)
  const pending = new Map<number, { resolve: (r: RunResult) => void; reject: (e: Error) => void }>()
  let nextId = 1
  const failAll = (error: Error) => {
    for (const { reject } of pending.values()) reject(error)
    pending.clear()
  }
  child.on('exit', (code, signal) =>
    failAll(new Error(`load generator exited (${signal ?? code}):\n${stderr()}`)),
  )
  child.on('message', (message: LoadgenMessage) => {
    if (message.type === 'ready') return
    const waiter = pending.get(message.id)
    if (!waiter) return
    pending.delete(message.id)
    if (message.type === 'result') waiter.resolve(message.result)
    else waiter.reject(new Error(`load generator: ${message.message}`))
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('load generator did not start within 10 s')), 10_000)
    child.once('message', () => {
      clearTimeout(timer)
      resolve()
    })
    child.once('error', reject)
  })
  return {
    pid: child.pid!,
    run(request, timeoutMs) {
      const id = nextId++
      return new Promise<RunResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`load generator gave no result within ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, {
          resolve: (r) => {
            clearTimeout(timer)
            resolve(r)
          },
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          },
        })
        child.send({ type: 'run', id, ...request })
      })
    },
    stop: () => stopChild(child, () => child.connected && child.send({ type: 'exit' }), 3_000),
  }
}
