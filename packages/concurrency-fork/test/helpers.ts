import { execFileSync } from 'node:child_process'
import diagnostics from 'node:diagnostics_channel'
import net from 'node:net'
import { waitFor } from '@socketserver/compliance-tests'
import { channels } from '@socketserver/core'

/** The module the children import the test handlers from. */
export const handlerModule = new URL('./fixtures/handlers.mjs', import.meta.url).href

/** Every child process any server of this test file started (from the worker channel). */
export const spawned = new Set<number>()
diagnostics.subscribe(channels.worker.name, (message) => {
  const { event, worker, kind } = message as { event: string; worker: number; kind: string }
  if (event === 'spawn' && kind === 'process') spawned.add(worker)
})

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** This process's children as `ps` lists them: pid and state (`Z` is a zombie). */
export function psChildren(ppid = process.pid): Array<{ pid: number; stat: string; command: string }> {
  let out = ''
  try {
    out = execFileSync('ps', ['-o', 'pid=,stat=,args=', '--ppid', String(ppid)], { encoding: 'utf8' })
  } catch {
    return [] // ps exits 1 when it lists nothing
  }
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pid, stat, ...command] = line.trim().split(/\s+/)
      return { pid: Number(pid), stat: stat!, command: command.join(' ') }
    })
}

/** Fails unless every child this file started is gone and `ps` shows no child of ours (zombie or not). */
export async function expectNoChildren(): Promise<void> {
  await waitFor(() => [...spawned].every((pid) => !isAlive(pid)), {
    what: `child processes ${[...spawned].filter(isAlive).join(', ')} to exit`,
  })
  const left = psChildren().filter((child) => spawned.has(child.pid) || child.command.includes('child.js'))
  if (left.length > 0) throw new Error(`children left behind: ${JSON.stringify(left)}`)
  spawned.clear()
}

/** A line-oriented TCP or Unix client. */
export class LineClient {
  readonly socket: net.Socket
  #buffer = ''
  #ended = false
  #wake: (() => void) | undefined

  private constructor(socket: net.Socket) {
    this.socket = socket
    socket.setEncoding('utf8')
    const wake = () => {
      const w = this.#wake
      this.#wake = undefined
      w?.()
    }
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk
      wake()
    })
    for (const event of ['end', 'close', 'error']) {
      socket.on(event, () => {
        this.#ended = true
        wake()
      })
    }
  }

  static connect(options: net.NetConnectOpts): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(options)
      socket.once('connect', () => resolve(new LineClient(socket)))
      socket.once('error', reject)
    })
  }

  /** Whether the server closed the connection. */
  get ended(): boolean {
    return this.#ended
  }

  send(text: string): void {
    this.socket.write(text)
  }

  /** The next line without its newline; `null` at end of stream. */
  async line(): Promise<string | null> {
    for (;;) {
      const newline = this.#buffer.indexOf('\n')
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline)
        this.#buffer = this.#buffer.slice(newline + 1)
        return line
      }
      if (this.#ended) return null
      await new Promise<void>((resolve) => (this.#wake = resolve))
    }
  }

  /** Everything until the server closes the connection. */
  async rest(): Promise<string> {
    while (!this.#ended) await new Promise<void>((resolve) => (this.#wake = resolve))
    const rest = this.#buffer
    this.#buffer = ''
    return rest
  }

  close(): void {
    this.socket.destroy()
  }
}
