import { StreamRequestHandler } from '@socketserver/stream-handlers'

/**
 * RFC 862 echo on the stream layer, the same handler as apps/echo-server's (an app is never
 * imported, so it is defined again here): `copyTo` moves each chunk from the socket's events to
 * the writer with backpressure and no promise per chunk.
 */
export class StreamEcho extends StreamRequestHandler {
  override async handle(): Promise<void> {
    await this.rfile.copyTo(this.wfile)
  }
}

/** The same echo written chunk by chunk, one `await` per read and per write: what that style costs. */
export class StreamEchoAwait extends StreamRequestHandler {
  override async handle(): Promise<void> {
    let chunk: Buffer
    while ((chunk = await this.rfile.read1()).length) await this.wfile.write(chunk)
  }
}
