import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The built programs next to this one. */
export const SERVER_JS = fileURLToPath(new URL('./server.js', import.meta.url))
export const LOAD_JS = fileURLToPath(new URL('./load.js', import.meta.url))

/**
 * Every process started here leads a process group of its own (`detached`), so that killing the
 * group also ends what it started (a fork pool's children). Each is killed by group id when the
 * scenario ends, and again on exit, however the runner exits.
 */
const groups = new Set<number>()

export function killGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // gone already
  }
}

export function killAllGroups(): void {
  for (const pgid of groups) killGroup(pgid)
  groups.clear()
}
process.on('exit', killAllGroups)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    killAllGroups()
    process.exit(130)
  })
}

/**
 * Starts `command` as the leader of a process group of its own, killed with the others when the
 * scenario ends; `stdin: 'pipe'` to write to it (an interactive client).
 */
export function spawnInGroup(
  command: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
  stdin: 'ignore' | 'pipe' = 'ignore',
): ChildProcess {
  const child = spawn(command, args, {
    detached: true,
    stdio: [stdin, 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  groups.add(child.pid!)
  return child
}

/** Whether any process of group `pgid` is still there (zombies included). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

/** `/proc/<pid>/stat`'s state letter (`Z`: zombie), or undefined once the process is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
  } catch {
    return undefined
  }
}

/** Every process whose parent is `pid`, from /proc. */
export function childrenOf(pid: number): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) found.push(Number(entry))
    } catch {
      // exited while we looked
    }
  }
  return found
}

/** Resident memory now and at its peak, in MiB (VmRSS, VmHWM). */
export function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0)
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 }
}

/** Bytes `pid` has read so far through system calls (sockets included): `rchar` of /proc/<pid>/io. */
export function bytesRead(pid: number): number {
  return Number(/^rchar:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0)
}

/** Open descriptors of `pid`. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

export interface ServerProcess {
  pid: number
  ready: Record<string, any>
  /** Asks the server for its counters. */
  stats(): Promise<Record<string, any>>
  /** JSON lines it printed after the ready line. */
  messages: Array<Record<string, any>>
  /** Everything it wrote on stderr. */
  stderr(): string
  /** Resolves with the exit code or signal once it has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  hasExited(): boolean
  signal(signal: NodeJS.Signals): void
  /** Kills its whole group. */
  kill(): Promise<void>
}

export interface StartOptions {
  /** Run under `ulimit -n <n>`. */
  ulimitFiles?: number
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
  /** Resolve with the `{ error }` line instead of rejecting (a start expected to fail). */
  expectError?: boolean
}

/** Starts `node dist/server.js <kind> <options>` and resolves once it printed its ready line. */
export async function startServer(
  kind: string,
  options: Record<string, unknown> = {},
  { ulimitFiles, env, timeoutMs = 15_000, expectError = false }: StartOptions = {},
): Promise<ServerProcess> {
  const args = [SERVER_JS, kind, JSON.stringify(options)]
  const child: ChildProcess = ulimitFiles
    ? spawn('sh', ['-c', `ulimit -n ${ulimitFiles} && exec "$0" "$@"`, process.execPath, ...args], {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, ...env },
      })
    : spawn(process.execPath, args, {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, ...env },
      })
  const pid = child.pid!
  groups.add(pid)
  let stderr = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-200_000)
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  let hasExited = false
  void exited.then(() => (hasExited = true))
  const messages: Array<Record<string, any>> = []
  const statsWaiters: Array<(stats: Record<string, any>) => void> = []
  let readyResolve!: (ready: Record<string, any>) => void
  const readyLine = new Promise<Record<string, any>>((resolve) => (readyResolve = resolve))
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let message: Record<string, any>
    try {
      message = JSON.parse(line)
    } catch {
      return
    }
    if (message.ready || message.error) readyResolve(message)
    else if (message.stats) statsWaiters.shift()?.(message.stats)
    else messages.push(message)
  })
  const kill = async () => {
    killGroup(pid)
    groups.delete(pid)
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))])
  }
  let timer: NodeJS.Timeout | undefined
  const ready = await Promise.race([
    readyLine,
    exited.then(({ code, signal }) => {
      throw new Error(`server ${kind} exited (${signal ?? code}) before it was ready:\n${stderr}`)
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`server ${kind} not ready within ${timeoutMs} ms`)),
        timeoutMs,
      )
    }),
  ]).finally(() => clearTimeout(timer))
  if (ready.error && !expectError) {
    await kill()
    throw new Error(`server ${kind} failed to start: ${JSON.stringify(ready.error)}`)
  }
  return {
    pid,
    ready,
    messages,
    stderr: () => stderr,
    exited,
    hasExited: () => hasExited,
    signal: (signal) => {
      if (!hasExited) process.kill(pid, signal)
    },
    stats: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server ${kind}: no stats within 5 s`)), 5_000)
        statsWaiters.push((stats) => {
          clearTimeout(timer)
          resolve(stats)
        })
        child.stdin!.write('stats\n')
      }),
    kill,
  }
}

/** Runs the load client (`node dist/load.js <kind> <options>`) in its own process; resolves with its JSON result. */
export async function runLoad<T = Record<string, any>>(
  kind: string,
  options: Record<string, unknown>,
  timeoutMs: number,
): Promise<T> {
  const child = spawn(process.execPath, [LOAD_JS, kind, JSON.stringify(options)], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const pid = child.pid!
  groups.add(pid)
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  let timer: NodeJS.Timeout | undefined
  try {
    const code = await Promise.race([
      new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`load ${kind} gave no result within ${timeoutMs} ms`)),
          timeoutMs,
        )
      }),
    ])
    if (code !== 0) throw new Error(`load ${kind} exited ${code}:\n${err}`)
    return JSON.parse(out) as T
  } finally {
    clearTimeout(timer)
    killGroup(pid)
    groups.delete(pid)
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Resolves once `condition()` holds, or rejects with `what` after `ms`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(20)
  }
}
