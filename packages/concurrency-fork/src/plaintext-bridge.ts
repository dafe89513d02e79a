import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type tls from 'node:tls'
import { type CloseStreamOptions, closeStreamSocket } from '@socketserver/core/transport'

/**
 * A `TLSSocket` cannot go to a child process: its TLS state lives in this process's OpenSSL. The
 * child gets one end of a local Unix socket pair instead (a real socket, so everything the child
 * does with a TCP connection works unchanged), and this process pipes the plaintext between the
 * other end and the `TLSSocket`. Node has no socketpair(): the pair is made by connecting to a
 * private listener of this process, the connecting end naming its bridge in 4 bytes.
 */
interface Listener {
  path: string
  waiting: Map<number, (accepted: net.Socket) => void>
}

let listener: Promise<Listener> | undefined
let nextId = 0

function privateListener(): Promise<Listener> {
  listener ??= new Promise((resolve, reject) => {
    const waiting = new Map<number, (accepted: net.Socket) => void>()
    let path: string
    if (process.platform === 'linux')
      path = `\0socketserver-bridge-${process.pid}-${randomBytes(6).toString('hex')}`
    else {
      const dir = mkdtempSync(join(tmpdir(), 'socksrv-bridge-'))
      path = join(dir, 'b.sock')
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    }
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (accepted) => {
      accepted.on('error', ignore)
      const onReadable = () => {
        const name = accepted.read(4) as Buffer | null
        if (!name) return
        accepted.off('readable', onReadable)
        const take = waiting.get(name.readUInt32BE(0))
        waiting.delete(name.readUInt32BE(0))
        if (take) take(accepted)
        else accepted.destroy()
      }
      accepted.on('readable', onReadable)
    })
    server.unref() // never keeps the process alive
    server.once('error', reject)
    server.listen(path, () => resolve({ path, waiting }))
  })
  return listener
}

const ignore = () => {}

/** The end to send to a child, and what starts the bridge once the child has it. */
export interface Bridge {
  socket: net.Socket
  /**
   * Starts piping. Only once the child has the socket: until then this process's copy of it may
   * read (a connected socket reads at once), and what it read would be lost.
   */
  start(): void
}

/**
 * Makes the socket to send to the child: its bytes are `secure`'s plaintext. Once the child is
 * done with it, `secure` gets the server's lingering close (`close`).
 */
export async function plaintextBridge(
  secure: tls.TLSSocket,
  close: Required<CloseStreamOptions>,
): Promise<Bridge> {
  const { path, waiting } = await privateListener()
  const id = (nextId = (nextId + 1) >>> 0)
  const near = new Promise<net.Socket>((resolve) => waiting.set(id, resolve))
  const far = net.connect({ path, allowHalfOpen: true })
  far.on('error', ignore)
  const name = Buffer.alloc(4)
  name.writeUInt32BE(id, 0)
  far.write(name)
  const kept = await near
  secure.once('close', () => kept.destroy())
  const start = () => {
    secure.pipe(kept) // the client's bytes to the child; its end of stream as the child's
    kept.pipe(secure, { end: false })
    // The child half-closed: so does the client's side, after what the child wrote.
    kept.once('end', () => secure.end())
    kept.once('close', () => closeStreamSocket(secure, close))
  }
  return { socket: far, start }
}
