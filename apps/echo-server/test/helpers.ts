import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

/** The built CLI: `pnpm build` first (the root `pnpm test` does). */
export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

const LISTENING = /^echo: listening on tcp (\S+):(\d+) \(mode (\S+)\)$/m

const children = new Set<ChildProcess>()
const sockets = new Set<net.Socket>()

/** Kills every process the tests started that still runs and destroys their client sockets: for afterEach. */
export function cleanup(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
  for (const socket of sockets) socket.destroy()
  sockets.clear()
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface EchoProcess {
  child: ChildProcess
  host: string
  port: number
  mode: string
  stdout(): string
  stderr(): string
  /** Resolves once stdout matches `pattern`; rejects if the process exits first or after `ms`. */
  waitForOutput(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>
  /** Resolves when the process exits; rejects after `ms`. */
  waitForExit(ms?: number): Promise<Exit>
}

/** Starts `node dist/cli.js ...args` and resolves once it prints where it listens. */
export async function startCli(args: string[]): Promise<EchoProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run pnpm build first`)
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  // 'close' comes after 'exit' once the pipes are drained, so stdout() then holds the last lines.
  let closed = false
  const exited = new Promise<Exit>((resolve) =>
    child.once('close', (code, signal) => {
      closed = true
      resolve({ code, signal })
    }),
  )

  const waitForOutput = (pattern: RegExp, ms = 10_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      let done = false
      const finish = (result: RegExpMatchArray | Error) => {
        if (done) return
        done = true
        clearTimeout(timer)
        child.stdout!.off('data', check)
        if (result instanceof Error) reject(result)
        else resolve(result)
      }
      function check() {
        const match = out.match(pattern)
        if (match) finish(match)
        else if (closed)
          finish(new Error(`exited before printing ${pattern}\nstdout: ${out}\nstderr: ${err}`))
      }
      const timer = setTimeout(
        () => finish(new Error(`no ${pattern} within ${ms} ms\nstdout: ${out}\nstderr: ${err}`)),
        ms,
      )
      child.stdout!.on('data', check)
      void exited.then(check)
      check()
    })

  const waitForExit = (ms = 15_000) =>
    new Promise<Exit>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`still running after ${ms} ms\nstdout: ${out}`)), ms)
      void exited.then((exit) => {
        clearTimeout(timer)
        resolve(exit)
      })
    })

  const match = await waitForOutput(LISTENING)
  return {
    child,
    host: match[1]!.replace(/^\[(.*)\]$/, '$1'), // [::1] -> ::1
    port: Number(match[2]),
    mode: match[3]!,
    stdout: () => out,
    stderr: () => err,
    waitForOutput,
    waitForExit,
  }
}

export interface RunResult extends Exit {
  stdout: Buffer
  stderr: string
}

/** Runs a client program to completion, feeding it `input`; killed after `ms`. */
export function run(
  command: string,
  args: string[],
  { input, ms = 20_000 }: { input?: Buffer | string; ms?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    children.add(child)
    const out: Buffer[] = []
    let err = ''
    child.stdout!.on('data', (d: Buffer) => out.push(d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.stdin!.on('error', () => {}) // a client that exits early closes its stdin under us
    child.stdin!.end(input)
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} still running after ${ms} ms\nstderr: ${err}`))
    }, ms)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      children.delete(child)
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err })
    })
  })
}

/** A plain `net` client that records what comes back, for step-by-step exchanges. */
export class Client {
  readonly socket: net.Socket
  received = Buffer.alloc(0)
  /** Set when the server sent FIN. */
  ended = false
  closed = false
  error: Error | undefined
  readonly #waiters = new Set<() => void>()

  private constructor(socket: net.Socket) {
    this.socket = socket
    sockets.add(socket)
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk])
      this.#notify()
    })
    socket.on('end', () => {
      this.ended = true
      this.#notify()
    })
    socket.on('error', (error) => {
      this.error = error
    })
    socket.on('close', () => {
      this.closed = true
      this.#notify()
    })
  }

  static connect(port: number, host = '127.0.0.1'): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host })
      socket.once('error', reject)
      socket.once('connect', () => {
        socket.off('error', reject)
        resolve(new Client(socket))
      })
    })
  }

  #notify(): void {
    for (const waiter of this.#waiters) waiter()
  }

  /** Resolves once `condition()` holds; rejects after `ms`. */
  until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return
        this.#waiters.delete(check)
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(check)
        reject(new Error(`no ${what} within ${ms} ms (received ${JSON.stringify(this.received.toString())})`))
      }, ms)
      this.#waiters.add(check)
      check()
    })
  }

  /** Writes `data` and waits until `received` ends with it (the echo). */
  async exchange(data: string): Promise<void> {
    const before = this.received.length
    this.socket.write(data)
    await this.until(
      () => this.received.length >= before + Buffer.byteLength(data),
      `echo of ${JSON.stringify(data)}`,
    )
    const echoed = this.received.subarray(before).toString()
    if (echoed !== data)
      throw new Error(`expected echo ${JSON.stringify(data)}, got ${JSON.stringify(echoed)}`)
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** Resolves with the error code of a connect attempt (`'connected'` if it succeeded). */
export function tryConnect(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host })
    sockets.add(socket)
    socket.once('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
  })
}
