// How the suite's handlers tell the test what they did when they run in another thread or process
// (remote mode): over a Unix socket the test process listens on, whose address is in an
// environment variable that worker threads and child processes inherit. One JSON line per message;
// the test acknowledges each one once recorded (or, for a gate, once the test opened it), so a
// handler that awaits its report knows the test has seen it before it replies to its client.
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InvalidStateError } from '@socketserver/core'

/**
 * The environment variable that tells a remote handler where to report: `<token>@<socket path>`.
 * The suite sets it before each test; a server whose workers do not inherit the environment
 * (`ForkingMixIn`'s `env` option) must pass it on.
 */
export const COMPLIANCE_REPORT_ENV = 'SOCKSRV_COMPLIANCE_REPORT'

interface ReportMessage {
  id: number
  token: string
  kind: 'event' | 'gate'
  event?: string
}

/** What one test records: the handlers' events, and the gate its handlers wait on. */
export class Recorder {
  readonly events: string[] = []
  gate: Promise<void> | undefined

  /** The gate handlers wait on; an open one when the test made none. */
  waitGate(): Promise<void> {
    return this.gate ?? Promise.resolve()
  }

  reset(): void {
    this.events.length = 0
    this.gate = undefined
  }
}

/** The test process's end: records the reports of the current test into its `Recorder`. */
export class ReportServer {
  readonly path: string
  readonly #dir: string
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  #token = 0
  #recorder: Recorder | undefined

  private constructor(dir: string, server: net.Server) {
    this.#dir = dir
    this.path = join(dir, 'report.sock')
    this.#server = server
    server.on('connection', (socket) => this.#serve(socket))
  }

  static async listen(): Promise<ReportServer> {
    const dir = mkdtempSync(join(tmpdir(), 'socksrv-report-'))
    const report = new ReportServer(dir, net.createServer())
    await new Promise<void>((resolve, reject) => {
      report.#server.once('error', reject)
      report.#server.listen(report.path, () => resolve())
    })
    return report
  }

  /** Starts a test: reports carrying an older token are acknowledged and dropped. Returns the env value. */
  begin(recorder: Recorder): string {
    this.#recorder = recorder
    return `${++this.#token}@${this.path}`
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise((resolve) => this.#server.close(resolve))
    rmSync(this.#dir, { recursive: true, force: true })
  }

  #serve(socket: net.Socket): void {
    this.#sockets.add(socket)
    socket.on('close', () => this.#sockets.delete(socket))
    socket.on('error', () => {}) // a worker that exits mid-report
    let buffered = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buffered += chunk
      for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
        const message = JSON.parse(buffered.slice(0, newline)) as ReportMessage
        buffered = buffered.slice(newline + 1)
        void this.#handle(message).then(() => {
          if (!socket.destroyed) socket.write(`${JSON.stringify({ id: message.id })}\n`)
        })
      }
    })
  }

  async #handle(message: ReportMessage): Promise<void> {
    const recorder = this.#recorder
    if (!recorder || message.token !== String(this.#token)) return // a handler of a finished test
    if (message.kind === 'event') recorder.events.push(message.event!)
    else await recorder.waitGate()
  }
}

/** A handler's end, one connection per thread or process, opened at the first report. */
class ReportClient {
  readonly #token: string
  readonly #socket: net.Socket
  readonly #pending = new Map<number, () => void>()
  #nextId = 1
  #buffered = ''

  constructor(value: string) {
    const at = value.indexOf('@')
    this.#token = value.slice(0, at)
    this.#socket = net.connect(value.slice(at + 1))
    // Neither keeps a worker or child alive: its pool ends it when the server closes.
    this.#socket.unref()
    this.#socket.setEncoding('utf8')
    this.#socket.on('data', (chunk: string) => {
      this.#buffered += chunk
      for (let newline = this.#buffered.indexOf('\n'); newline >= 0; newline = this.#buffered.indexOf('\n')) {
        const { id } = JSON.parse(this.#buffered.slice(0, newline)) as { id: number }
        this.#buffered = this.#buffered.slice(newline + 1)
        this.#pending.get(id)?.()
        this.#pending.delete(id)
      }
    })
    // The test is over (its process closed the socket): release the handlers rather than hang them.
    const releaseAll = () => {
      for (const release of this.#pending.values()) release()
      this.#pending.clear()
    }
    this.#socket.on('error', releaseAll)
    this.#socket.on('close', releaseAll)
  }

  send(kind: ReportMessage['kind'], event?: string): Promise<void> {
    if (this.#socket.destroyed) return Promise.resolve()
    const id = this.#nextId++
    const message: ReportMessage = { id, token: this.#token, kind, ...(event === undefined ? {} : { event }) }
    return new Promise((resolve) => {
      this.#pending.set(id, resolve)
      this.#socket.write(`${JSON.stringify(message)}\n`)
    })
  }
}

let client: { value: string; client: ReportClient } | undefined

/** The connection to the test process named by `COMPLIANCE_REPORT_ENV`. */
export function reportClient(): ReportClient {
  const value = process.env[COMPLIANCE_REPORT_ENV]
  if (!value)
    throw new InvalidStateError(
      `${COMPLIANCE_REPORT_ENV} is not set: the compliance suite's remote handlers report to the test process through it (pass the environment on to the server's workers)`,
    )
  if (client?.value !== value) client = { value, client: new ReportClient(value) }
  return client.client
}
