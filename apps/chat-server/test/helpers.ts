import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

/** The built CLI: `pnpm build` first (the root `pnpm test` does). */
export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

const children = new Set<ChildProcess>()
const clients = new Set<ChatClient>()

/** Kills every process the tests started that still runs and closes their clients: for afterEach. */
export function cleanup(): void {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
  for (const client of clients) client.socket.destroy()
  clients.clear()
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0
}

/** A client that keeps every line it receives and can wait for one. */
export class ChatClient {
  readonly lines: string[] = []
  closed = false
  #partial = ''
  #waiters = new Set<() => void>()

  constructor(readonly socket: net.Socket) {
    clients.add(this)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split(/\r?\n/)
      this.#partial = parts.pop()!
      this.lines.push(...parts)
      for (const wake of this.#waiters) wake()
    })
    socket.on('close', () => {
      this.closed = true
      for (const wake of this.#waiters) wake()
    })
    socket.on('error', () => {})
  }

  static connect(port: number, host = '127.0.0.1'): Promise<ChatClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host)
      socket.once('error', reject)
      socket.once('connect', () => resolve(new ChatClient(socket)))
    })
  }

  send(...lines: string[]): void {
    this.socket.write(lines.map((line) => `${line}\n`).join(''))
  }

  /** Resolves with the first line received so far or later that matches; rejects after `ms`. */
  waitFor(pattern: RegExp | string, ms = 5_000): Promise<string> {
    const test = (line: string) => (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line))
    return this.#until(() => this.lines.find(test), `a line matching ${pattern}`, ms)
  }

  /** Resolves once the server has closed the connection. */
  waitForClose(ms = 5_000): Promise<true> {
    return this.#until(() => (this.closed ? true : undefined), 'the connection to close', ms)
  }

  #until<T>(check: () => T | undefined, what: string, ms: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const wake = () => {
        const value = check()
        if (value === undefined) {
          if (this.closed && what !== 'the connection to close')
            finish(new Error(`closed before ${what}; got:\n${this.lines.join('\n')}`))
          return
        }
        finish(value)
      }
      const finish = (result: T | Error) => {
        clearTimeout(timer)
        this.#waiters.delete(wake)
        if (result instanceof Error) reject(result)
        else resolve(result)
      }
      const timer = setTimeout(
        () => finish(new Error(`no ${what} within ${ms} ms; got:\n${this.lines.join('\n')}`)),
        ms,
      )
      this.#waiters.add(wake)
      wake()
    })
  }
}

/** A line-protocol user who has taken `nick` and, if given, joined `room`. */
export async function lineUser(port: number, nick: string, room?: string, ms = 5_000): Promise<ChatClient> {
  const client = await ChatClient.connect(port)
  client.send(nick)
  await client.waitFor(`you are now ${nick}`, ms)
  if (room) {
    client.send(`/join ${room}`)
    await client.waitFor(`you joined #${room}`, ms)
  }
  return client
}

export interface ChatProcess {
  child: ChildProcess
  linePort: number
  ircPort: number | null
  stdout(): string
  stderr(): string
  waitForOutput(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>
  waitForExit(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `node dist/cli.js ...args` and resolves once it has printed where it listens. */
export async function startCli(args: string[]): Promise<ChatProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run pnpm build first`)
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  )
  let gone = false
  void exited.then(() => (gone = true))
  const waitForOutput = (pattern: RegExp, ms = 15_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setInterval(check, 20)
      const deadline = Date.now() + ms
      function check() {
        const match = out.match(pattern)
        if (!match && !gone && Date.now() < deadline) return
        clearInterval(timer)
        if (match) resolve(match)
        else reject(new Error(`no ${pattern} (exited: ${gone})\nstdout: ${out}\nstderr: ${err}`))
      }
    })
  const waitForExit = (ms = 15_000) =>
    Promise.race([
      exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`still running after ${ms} ms\nstdout: ${out}`)), ms).unref(),
      ),
    ])
  const line = await waitForOutput(/listening on line \S+:(\d+)/)
  const irc = args.includes('off') ? null : await waitForOutput(/listening on irc \S+:(\d+)/)
  return {
    child,
    linePort: Number(line[1]),
    ircPort: irc ? Number(irc[1]) : null,
    stdout: () => out,
    stderr: () => err,
    waitForOutput,
    waitForExit,
  }
}

/** A redis-server of the test's own on a free loopback port, or the one `REDIS_URL` names. */
export async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => {} }
  const port = await freePort()
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  // Not in `children`: it outlives each test's cleanup(), for the whole file; stop() ends it, and
  // the test process's exit if stop() never ran.
  const kill = () => child.kill('SIGKILL')
  process.once('exit', kill)
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes('Ready to accept connections')) resolve()
    })
    child.once('exit', () => reject(new Error(`redis-server exited:\n${out}`)))
  })
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      process.off('exit', kill)
      child.kill('SIGTERM')
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve))
    },
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}
