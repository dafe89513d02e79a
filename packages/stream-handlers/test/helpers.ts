import { spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { EventLoopTCPServer } from '@socketserver/transport-tcp'

type HandlerClass = ConstructorParameters<typeof EventLoopTCPServer>[1]

/** Starts an EventLoopTCPServer on 127.0.0.1:0 with `Handler`; `close()` stops and closes it. */
export async function serve(Handler: HandlerClass, errors: unknown[] = []) {
  const server = await EventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, Handler)
  server.handleError = (_request, _address, error) => {
    errors.push(error)
  }
  const loop = server.serveForever({ pollInterval: 50 })
  return {
    server,
    port: server.serverAddress.port,
    errors,
    async close() {
      await server.shutdownGracefully({ timeout: 2_000 })
      await loop
    },
  }
}

/** Connects, sends `data`, half-closes, and resolves with everything the server sent back. */
export async function exchange(port: number, data: string | Buffer): Promise<Buffer> {
  const socket = net.connect(port, '127.0.0.1')
  socket.end(data)
  const parts: Buffer[] = []
  for await (const part of socket) parts.push(part as Buffer)
  return Buffer.concat(parts)
}

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Resolves when `predicate()` holds, checking every 10 ms, or rejects after `ms`. */
export async function until(predicate: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Sends `input` with Debian's `nc`, which half-closes after it; resolves with nc's exit code and what it received. */
export async function viaNc(port: number, input: string): Promise<{ code: number; reply: string }> {
  const nc = spawn('nc', ['-N', '127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const out: Buffer[] = []
  nc.stdout.on('data', (d: Buffer) => out.push(d))
  nc.stdin.end(input)
  const [code] = await once(nc, 'close')
  return { code, reply: Buffer.concat(out).toString() }
}
