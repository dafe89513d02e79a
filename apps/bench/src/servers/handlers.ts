import {
  type Connection,
  ConnectionHandler,
  LineHandler,
  StreamRequestHandler,
} from '@socketserver/stream-handlers'
import { sha } from '../hash.js'

/**
 * The handlers of every stream server kind, in a module of their own (`dist/handlers.js`): the
 * thread and fork pools import it in their workers and children (`handlerModule`), so it must have
 * no side effect. The same handler as apps/echo-server's echo (an app is never imported).
 */

/** RFC 862 echo: `copyTo` moves each chunk from the socket's events to the writer with backpressure. */
export class StreamEcho extends StreamRequestHandler {
  override handle(): Promise<number> {
    return this.rfile.copyTo(this.wfile)
  }
}

/** The echo on the callback path: one handler per server, each chunk written back as it comes. */
export class CallbackEcho extends ConnectionHandler {
  override data(conn: Connection, chunk: Buffer): void {
    conn.write(chunk)
  }
}

/** The README's line echo on the callback path: each line written back as it is cut. */
export class CallbackLines extends LineHandler {
  override line(conn: Connection, line: Buffer): void {
    conn.write(line)
  }
}

/** The same echo written chunk by chunk, one `await` per read and per write: what that style costs. */
export class StreamEchoAwait extends StreamRequestHandler {
  override async handle(): Promise<void> {
    let chunk: Buffer
    while ((chunk = await this.rfile.read1()).length) await this.wfile.write(chunk)
  }
}

/** The README's handler: every line echoed, one `await` per line and per write. */
export class StreamLines extends StreamRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) await this.wfile.write(line)
  }
}

/** One line in, the same line out, then the connection closes: a request per connection. */
export class LineOnce extends StreamRequestHandler {
  override disableNagleAlgorithm = true
  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.readline())
  }
}

// Workers share the process's environment; forked children get HASH_ROUNDS through `env`.
const hashRounds = Number(process.env.HASH_ROUNDS || 2000)

/** One line in, its ~2 ms hash out (64 hex digits and a newline), until end of stream. */
export class Hash extends StreamRequestHandler {
  override disableNagleAlgorithm = true
  override async handle(): Promise<void> {
    for await (const _line of this.rfile) await this.wfile.write(`${sha(hashRounds)}\n`)
  }
}
