import { FrameTooLargeError, InvalidArgumentError, LineTooLongError } from '@socketserver/core'

/** Turns a byte stream into frames; throws a typed error rather than buffer past its limit. */
export interface FrameDecoder {
  /** Feeds bytes; returns the frames they complete. */
  push(chunk: Uint8Array): Buffer[]
  /** Bytes held toward an incomplete frame. */
  readonly pending: number
}

export interface LineDecoderOptions {
  /** Longest line, in bytes, delimiter not counted. Default: `65536`. */
  maxLength?: number
  /** Drop the `\n` (and a `\r` before it) from each frame. Default: `true`. */
  stripDelimiter?: boolean
}

/** Netty's `LineBasedFrameDecoder`: frames end at `\n`; a longer line throws `LineTooLongError`. */
export class LineDecoder implements FrameDecoder {
  readonly maxLength: number
  readonly stripDelimiter: boolean
  #parts: Buffer[] = []
  #pending = 0

  constructor({ maxLength = 65_536, stripDelimiter = true }: LineDecoderOptions = {}) {
    if (!(maxLength > 0)) throw new InvalidArgumentError('maxLength must be positive')
    this.maxLength = maxLength
    this.stripDelimiter = stripDelimiter
  }

  get pending(): number {
    return this.#pending
  }

  push(chunk: Uint8Array): Buffer[] {
    const frames: Buffer[] = []
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    for (let index = data.indexOf(0x0a); index >= 0; index = data.indexOf(0x0a)) {
      const head = data.subarray(0, index + 1)
      data = data.subarray(index + 1)
      const lineLength = this.#pending + index
      if (lineLength > this.maxLength) {
        this.#reset()
        throw new LineTooLongError(this.maxLength)
      }
      const line = this.#parts.length ? Buffer.concat([...this.#parts, head]) : head
      this.#reset()
      frames.push(this.stripDelimiter ? stripEol(line) : line)
    }
    if (data.length > 0) {
      if (this.#pending + data.length > this.maxLength) {
        this.#reset()
        throw new LineTooLongError(this.maxLength)
      }
      this.#parts.push(Buffer.from(data)) // copy: the caller may reuse its buffer
      this.#pending += data.length
    }
    return frames
  }

  #reset(): void {
    this.#parts = []
    this.#pending = 0
  }
}

function stripEol(line: Buffer): Buffer {
  const end = line.length >= 2 && line[line.length - 2] === 0x0d ? line.length - 2 : line.length - 1
  return line.subarray(0, end)
}

export interface LengthPrefixedOptions {
  /** Size of the big-endian length header, in bytes: 1, 2 or 4. Default: `4`. */
  lengthFieldLength?: 1 | 2 | 4
  /** Largest payload accepted, in bytes; a header declaring more throws `FrameTooLargeError` before any of it is buffered. Default: `1048576` (1 MiB). */
  maxFrameSize?: number
}

/** Netty's `LengthFieldBasedFrameDecoder` for the common case: an unsigned big-endian length, then that many bytes. */
export class LengthPrefixedDecoder implements FrameDecoder {
  readonly lengthFieldLength: 1 | 2 | 4
  readonly maxFrameSize: number
  #buffer: Buffer = Buffer.alloc(0)

  constructor({ lengthFieldLength = 4, maxFrameSize = 1024 * 1024 }: LengthPrefixedOptions = {}) {
    if (![1, 2, 4].includes(lengthFieldLength))
      throw new InvalidArgumentError('lengthFieldLength must be 1, 2 or 4')
    this.lengthFieldLength = lengthFieldLength
    this.maxFrameSize = maxFrameSize
  }

  get pending(): number {
    return this.#buffer.length
  }

  push(chunk: Uint8Array): Buffer[] {
    const frames: Buffer[] = []
    let data = this.#buffer.length
      ? Buffer.concat([this.#buffer, chunk])
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    const header = this.lengthFieldLength
    while (data.length >= header) {
      const size = data.readUIntBE(0, header)
      if (size > this.maxFrameSize) {
        this.#buffer = Buffer.alloc(0)
        throw new FrameTooLargeError(size, this.maxFrameSize)
      }
      if (data.length < header + size) break
      frames.push(data.subarray(header, header + size))
      data = data.subarray(header + size)
    }
    this.#buffer = Buffer.from(data) // copy: keeps neither the caller's buffer nor consumed frames alive
    return frames
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
    yield* decoder.push(chunk)
  }
}
