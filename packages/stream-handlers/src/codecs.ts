import { FrameTooLargeError, InvalidArgumentError, LineTooLongError } from '@socketserver/core'

/**
 * Turns a byte stream into frames, one at a time, so that a bad frame surfaces after the good ones
 * before it. Never holds more than one frame's limit (plus the chunk being written) in memory.
 */
export interface FrameDecoder {
  /** Appends bytes. */
  write(chunk: Uint8Array): void
  /** The next complete frame, `undefined` if none is complete yet; throws a typed error for a bad one (and drops it). */
  read(): Buffer | undefined
  /** Bytes held toward frames not yet returned. */
  readonly pending: number
}

abstract class BufferedDecoder implements FrameDecoder {
  protected buffer: Buffer = Buffer.alloc(0)

  get pending(): number {
    return this.buffer.length
  }

  write(chunk: Uint8Array): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : Buffer.from(chunk)
  }

  abstract read(): Buffer | undefined

  /** Writes `chunk` and returns every frame now complete (throws on a bad one). */
  push(chunk: Uint8Array): Buffer[] {
    this.write(chunk)
    const frames: Buffer[] = []
    for (let frame = this.read(); frame !== undefined; frame = this.read()) frames.push(frame)
    return frames
  }
}

export interface LineDecoderOptions {
  /** Longest line, in bytes, delimiter not counted. Default: `65536`. */
  maxLength?: number
  /** Drop the `\n` (and a `\r` before it) from each frame. Default: `true`. */
  stripDelimiter?: boolean
}

/**
 * Netty's `LineBasedFrameDecoder`: frames end at `\n`; a longer line throws `LineTooLongError`
 * and is discarded up to its newline (or all that is held, if none came yet).
 */
export class LineDecoder extends BufferedDecoder {
  readonly maxLength: number
  readonly stripDelimiter: boolean
  #scanned = 0

  constructor({ maxLength = 65_536, stripDelimiter = true }: LineDecoderOptions = {}) {
    super()
    if (!(maxLength > 0)) throw new InvalidArgumentError('maxLength must be positive')
    this.maxLength = maxLength
    this.stripDelimiter = stripDelimiter
  }

  read(): Buffer | undefined {
    const index = this.buffer.indexOf(0x0a, this.#scanned)
    if (index < 0) {
      this.#scanned = this.buffer.length
      if (this.buffer.length > this.maxLength) this.#fail(this.buffer.length)
      return undefined
    }
    const lineLength = index > 0 && this.buffer[index - 1] === 0x0d ? index - 1 : index
    if (lineLength > this.maxLength) this.#fail(index + 1)
    const line = this.buffer.subarray(0, index + 1)
    this.buffer = this.buffer.subarray(index + 1)
    this.#scanned = 0
    return this.stripDelimiter ? line.subarray(0, lineLength) : line
  }

  #fail(discard: number): never {
    this.buffer = Buffer.from(this.buffer.subarray(discard))
    this.#scanned = 0
    throw new LineTooLongError(this.maxLength)
  }
}

export interface LengthPrefixedOptions {
  /** Size of the big-endian length header, in bytes: 1, 2 or 4. Default: `4`. */
  lengthFieldLength?: 1 | 2 | 4
  /** Largest payload accepted, in bytes; a header declaring more throws `FrameTooLargeError` before any of it is buffered. Default: `1048576` (1 MiB). */
  maxFrameSize?: number
}

/**
 * Netty's `LengthFieldBasedFrameDecoder` for the common case: an unsigned big-endian length, then
 * that many bytes. After `FrameTooLargeError` the stream cannot be resynchronised: close it.
 */
export class LengthPrefixedDecoder extends BufferedDecoder {
  readonly lengthFieldLength: 1 | 2 | 4
  readonly maxFrameSize: number

  constructor({ lengthFieldLength = 4, maxFrameSize = 1024 * 1024 }: LengthPrefixedOptions = {}) {
    super()
    if (![1, 2, 4].includes(lengthFieldLength))
      throw new InvalidArgumentError('lengthFieldLength must be 1, 2 or 4')
    this.lengthFieldLength = lengthFieldLength
    this.maxFrameSize = maxFrameSize
  }

  read(): Buffer | undefined {
    const header = this.lengthFieldLength
    if (this.buffer.length < header) return undefined
    const size = this.buffer.readUIntBE(0, header)
    if (size > this.maxFrameSize) {
      this.buffer = Buffer.alloc(0)
      throw new FrameTooLargeError(size, this.maxFrameSize)
    }
    if (this.buffer.length < header + size) return undefined
    const frame = this.buffer.subarray(header, header + size)
    this.buffer = this.buffer.subarray(header + size)
    return frame
  }
}

/** Prefixes `payload` with its length, for `LengthPrefixedDecoder`. */
export function encodeLengthPrefixed(
  payload: Uint8Array | string,
  { lengthFieldLength = 4 }: Pick<LengthPrefixedOptions, 'lengthFieldLength'> = {},
): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload
  if (body.length >= 2 ** (8 * lengthFieldLength)) {
    throw new InvalidArgumentError(
      `payload of ${body.length} bytes does not fit a ${lengthFieldLength}-byte length`,
    )
  }
  const frame = Buffer.allocUnsafe(lengthFieldLength + body.length)
  frame.writeUIntBE(body.length, 0, lengthFieldLength)
  frame.set(body, lengthFieldLength)
  return frame
}

/** Frames decoded from a reader (e.g. a handler's `rfile`) until end of stream. */
export async function* readFrames(
  reader: { read1(): Promise<Buffer> },
  decoder: FrameDecoder,
): AsyncGenerator<Buffer, void, undefined> {
  for (let chunk = await reader.read1(); chunk.length > 0; chunk = await reader.read1()) {
    decoder.write(chunk)
    for (let frame = decoder.read(); frame !== undefined; frame = decoder.read()) yield frame
  }
}
