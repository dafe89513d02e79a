import { type ChildProcess, spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { existsSync } from 'node:fs'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

/** The built CLI: `pnpm build` first (the root `pnpm test` does). */
export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

const children = new Set<ChildProcess>()
const closers = new Set<() => unknown>()

/** Kills every process the test started and closes its sockets: for afterEach. */
export function cleanup(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
  for (const close of closers) close()
  closers.clear()
}

/** Resolves once `condition()` holds; rejects after `ms` (a deadline to fail by, not a measurement). */
export async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs a program to completion, feeding it `input`; killed after `ms`. */
export function run(
  command: string,
  args: string[],
  { input, ms = 20_000, env }: { input?: string | Buffer; ms?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    children.add(child)
    let out = ''
    let err = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.stdin!.on('error', () => {})
    child.stdin!.end(input)
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(
          `${command} ${args.join(' ')} still running after ${ms} ms\nstdout: ${out}\nstderr: ${err}`,
        ),
      )
    }, ms)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      children.delete(child)
      resolve({ code, signal, stdout: out, stderr: err })
    })
  })
}

const LISTENING = /^time-server: listening on (tcp|udp) \[?([^\]\s]+?)\]?:(\d+) \((\w+), RFC (\d+)\)$/gm

export interface CliProcess {
  child: ChildProcess
  /** Port per `service/transport`, e.g. `ports['sntp/udp']`. */
  ports: Record<string, number>
  host: string
  stdout(): string
  stderr(): string
  waitForOutput(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>
  waitForExit(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `node dist/cli.js ...args` and resolves once it printed its five listening lines. */
export async function startCli(args: string[]): Promise<CliProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run pnpm build first`)
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  let closed = false
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      closed = true
      resolve({ code, signal })
    }),
  )
  const waitForOutput = async (pattern: RegExp, ms = 10_000) => {
    await waitFor(() => pattern.test(out) || closed, `${pattern} in stdout`, ms).catch((error: Error) => {
      throw new Error(`${error.message}\nstdout: ${out}\nstderr: ${err}`)
    })
    const match = out.match(pattern)
    if (!match) throw new Error(`exited before printing ${pattern}\nstdout: ${out}\nstderr: ${err}`)
    return match
  }
  const waitForExit = async (ms = 15_000) => {
    await waitFor(() => closed, 'the process to exit', ms)
    return exited
  }
  await waitForOutput(/\(sntp, RFC 4330\)\n/)
  const ports: Record<string, number> = {}
  let host = ''
  for (const match of out.matchAll(LISTENING)) {
    ports[`${match[4]}/${match[1]}`] = Number(match[3])
    host = match[2]!
  }
  return { child, ports, host, stdout: () => out, stderr: () => err, waitForOutput, waitForExit }
}

/** A UDP client on loopback keeping every datagram it receives. */
export class UdpClient {
  readonly socket: dgram.Socket
  readonly received: Array<{ data: Buffer; from: dgram.RemoteInfo }> = []
  #taken = 0

  private constructor(socket: dgram.Socket) {
    this.socket = socket
    socket.on('message', (data, from) => this.received.push({ data, from }))
  }

  static async open(host = '127.0.0.1'): Promise<UdpClient> {
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(0, host, () => resolve())
    })
    closers.add(() => {
      try {
        socket.close()
      } catch {}
    })
    return new UdpClient(socket)
  }

  get port(): number {
    return this.socket.address().port
  }

  send(data: Buffer | string, port: number, host = this.socket.address().address): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(data, port, host, (e) => (e ? reject(e) : resolve())),
    )
  }

  async next(ms = 5000): Promise<{ data: Buffer; from: dgram.RemoteInfo }> {
    await waitFor(() => this.received.length > this.#taken, 'a datagram', ms)
    return this.received[this.#taken++]!
  }
}

/** Connects over TCP and resolves with everything received until the server closes. */
export function tcpReceiveAll(port: number, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host })
    closers.add(() => socket.destroy())
    const parts: Buffer[] = []
    socket.on('data', (d: Buffer) => parts.push(d))
    socket.once('error', reject)
    socket.once('close', () => resolve(Buffer.concat(parts)))
  })
}

/** An SNTP client request (version 4, mode 3) with `transmit` as its transmit timestamp. */
export function sntpRequest({
  version = 4,
  mode = 3,
  transmit = Buffer.from('0123456789abcdef', 'hex'),
} = {}) {
  const packet = Buffer.alloc(48)
  packet[0] = (version << 3) | mode
  packet[2] = 6 // poll
  transmit.copy(packet, 40)
  return packet
}

/** Reads an NTP timestamp as ms since the Unix epoch, assuming era 0 (before 2036). */
export function readNtpTimestamp(buffer: Buffer, offset: number): number {
  const seconds = buffer.readUInt32BE(offset) - 2_208_988_800
  const fraction = buffer.readUInt32BE(offset + 4) / 2 ** 32
  return (seconds + fraction) * 1000
}
