import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Temporary directories for socket files: `dir()` makes one, `cleanup()` (in afterEach) removes them all. */
export class TempDirs {
  #dirs: string[] = []

  dir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'ssu-'))
    this.#dirs.push(dir)
    return dir
  }

  path(name = 's.sock'): string {
    return join(this.dir(), name)
  }

  cleanup(): void {
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  }
}

let abstractCounter = 0

/** A Linux abstract name no other test (or run) uses. */
export function abstractName(): string {
  return `\0socketserver-test-${process.pid}-${++abstractCounter}-${Math.random().toString(36).slice(2, 8)}`
}

/** Children a test started, killed in afterEach if still running. */
export class Children {
  #children = new Set<ChildProcess>()

  track(child: ChildProcess): ChildProcess {
    this.#children.add(child)
    child.once('exit', () => this.#children.delete(child))
    return child
  }

  async cleanup(): Promise<void> {
    await Promise.all(
      [...this.#children].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve()
            child.once('exit', () => resolve())
            child.kill('SIGKILL')
          }),
      ),
    )
  }
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a command to completion with `input` on stdin (then EOF); rejects past `timeoutMs`. */
export function run(command: string, args: string[], input = '', timeoutMs = 10_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr}`))
    }, timeoutMs)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(input)
  })
}

/** Connects to a Unix stream socket, sends `data`, half-closes, and resolves with everything received. */
export async function exchange(path: string, data: string | Buffer): Promise<Buffer> {
  const socket = net.connect({ path, allowHalfOpen: true })
  socket.end(data)
  const parts: Buffer[] = []
  for await (const part of socket) parts.push(part as Buffer)
  return Buffer.concat(parts)
}

/**
 * A Python datagram client: binds its socket to `clientPath` (unless `-`), sends each message to
 * `serverPath` and prints one JSON line per reply ({ data, from }) or `timeout`.
 */
export const PYTHON_DGRAM_CLIENT = `
import json, socket, sys
server, client, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if client != '-':
    s.bind(client)
s.settimeout(timeout)
for message in sys.argv[4:]:
    payload = b'x' * int(message[1:]) if message.startswith('#') else message.encode()
    s.sendto(payload, server)
    try:
        data, sender = s.recvfrom(200000)
        print(json.dumps({'data': data.decode('latin-1'), 'size': len(data), 'from': sender}), flush=True)
    except socket.timeout:
        print(json.dumps({'timeout': True}), flush=True)
`

export interface PythonReply {
  data?: string
  size?: number
  from?: string
  timeout?: boolean
}

/** Runs `PYTHON_DGRAM_CLIENT`; resolves with one entry per message. */
export async function pythonDatagrams(
  serverPath: string,
  clientPath: string | null,
  messages: string[],
  replyTimeoutSeconds = 5,
): Promise<PythonReply[]> {
  const result = await run('python3', [
    '-c',
    PYTHON_DGRAM_CLIENT,
    serverPath,
    clientPath ?? '-',
    String(replyTimeoutSeconds),
    ...messages,
  ])
  if (result.code !== 0) throw new Error(`python client failed (${result.code}): ${result.stderr}`)
  return result.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as PythonReply)
}
