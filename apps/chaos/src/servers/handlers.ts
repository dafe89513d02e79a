/**
 * Request handlers the chaos servers run. This module only defines classes, so thread workers and
 * forked children can import it (`handlerModule`) without starting anything.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { SocketTimeoutError } from '@socketserver/core'
import {
  encodeLengthPrefixed,
  LengthPrefixedDecoder,
  readFrames,
  StreamRequestHandler,
} from '@socketserver/stream-handlers'

/** Counters a server program reports on `stats`. */
export const counters = {
  requests: 0,
  thrown: 0,
  answered: 0,
  /** Connections closed by a deadline, by `SocketTimeoutError.operation`. */
  timeouts: { read: 0, write: 0, idle: 0, request: 0 } as Record<string, number>,
}

/**
 * Scenario 1: one line in, `echo:<line>` out; every third request (counted across the server)
 * throws instead, before answering.
 */
export class EveryThirdThrows extends StreamRequestHandler {
  override timeout = 10_000
  override async handle() {
    const n = ++counters.requests
    const line = await this.rfile.readline()
    if (n % 3 === 0) {
      counters.thrown++
      throw new Error(`injected failure in request ${n}`)
    }
    await this.wfile.write(`echo:${line}`)
    counters.answered++
  }
}

/** Line echo with the idle and total deadlines (scenario 3); expired deadlines close quietly and are counted. */
export class DeadlineLines extends StreamRequestHandler {
  override idleTimeout = Number(process.env.CHAOS_IDLE_TIMEOUT ?? 2_000)
  override requestTimeout = Number(process.env.CHAOS_REQUEST_TIMEOUT ?? 5_000)
  override async handle() {
    counters.requests++
    try {
      for await (const line of this.rfile) await this.wfile.write(line)
    } catch (error) {
      if (!(error instanceof SocketTimeoutError)) throw error
      counters.timeouts[error.operation] = (counters.timeouts[error.operation] ?? 0) + 1
    }
  }
}

/** Scenario 4, lines: echoes lines of at most `maxLineLength` (64 KiB); a longer one is a `LineTooLongError`. */
export class LineEcho extends StreamRequestHandler {
  override async handle() {
    counters.requests++
    for await (const line of this.rfile) await this.wfile.write(line)
  }
}

/** Scenario 4, frames: echoes 4-byte length-prefixed frames of at most 1 MiB (`FrameTooLargeError` past it). */
export class FrameEcho extends StreamRequestHandler {
  override async handle() {
    counters.requests++
    const decoder = new LengthPrefixedDecoder({ lengthFieldLength: 4, maxFrameSize: 1024 * 1024 })
    for await (const frame of readFrames(this.rfile, decoder)) {
      await this.wfile.write(encodeLengthPrefixed(frame))
    }
  }
}

/**
 * Scenarios 7 and 8: each line is a request answered `ok:<line>` after `CHAOS_WORK_MS` (a request
 * in flight for that long). `die` ends the thread or process running it (a fault from inside);
 * `hang` never answers.
 */
export class SlowLines extends StreamRequestHandler {
  override async handle() {
    const workMs = Number(process.env.CHAOS_WORK_MS ?? 20)
    for await (const line of this.rfile) {
      const text = line.toString().trim()
      if (text === 'die') process.exit(1) // in a worker thread this ends only the thread
      if (text === 'hang') await new Promise(() => {})
      await sleep(workMs)
      await this.wfile.write(`ok:${text}\n`)
    }
  }
}
