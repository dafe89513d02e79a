import { StreamRequestHandler } from '@socketserver/stream-handlers'

/**
 * RFC 862 echo on the stream layer, the same handler as apps/echo-server's (an app is never
 * imported, so it is defined again here): read whatever is buffered, write it back.
 */
export class StreamEcho extends StreamRequestHandler {
  override async handle(): Promise<void> {
    let chunk: Buffer
    while ((chunk = await this.rfile.read1()).length) await this.wfile.write(chunk)
  }
}
