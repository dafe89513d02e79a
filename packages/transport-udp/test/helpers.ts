import dgram from 'node:dgram'
import type { BaseServer } from '@socketserver/core'

/** A promise a test opens when it chooses: handlers await it to stay in flight. */
export class Gate {
  readonly promise: Promise<void>
  open!: () => void
  constructor() {
    this.promise = new Promise((resolve) => (this.open = resolve))
  }
}

/** Resolves once `condition()` holds; rejects after `ms` (a deadline to fail by, not a measurement). */
export async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

export interface Datagram {
  data: Buffer
  from: dgram.RemoteInfo
}

/** A UDP client bound to port 0 on loopback that keeps every datagram it receives. */
export class UdpClient {
  readonly socket: dgram.Socket
  readonly received: Datagram[] = []
  #taken = 0

  private constructor(socket: dgram.Socket) {
    this.socket = socket
    socket.on('message', (data, from) => this.received.push({ data, from }))
  }

  static async open(family: 'IPv4' | 'IPv6' = 'IPv4'): Promise<UdpClient> {
    const socket = dgram.createSocket(family === 'IPv6' ? 'udp6' : 'udp4')
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(0, family === 'IPv6' ? '::1' : '127.0.0.1', () => {
        socket.off('error', reject)
        resolve()
      })
    })
    const client = new UdpClient(socket)
    clients.add(client)
    return client
  }

  get port(): number {
    return this.socket.address().port
  }

  send(
    data: Buffer | string,
    port: number,
    host = this.socket.address().family === 'IPv6' ? '::1' : '127.0.0.1',
  ) {
    return new Promise<void>((resolve, reject) =>
      this.socket.send(data, port, host, (error) => (error ? reject(error) : resolve())),
    )
  }

  /** The next datagram not yet taken; rejects after `ms`. */
  async next(ms = 5000): Promise<Datagram> {
    await waitFor(() => this.received.length > this.#taken, 'a datagram', ms)
    return this.received[this.#taken++]!
  }

  close(): void {
    clients.delete(this)
    try {
      this.socket.close()
    } catch {
      // already closed
    }
  }
}

const clients = new Set<UdpClient>()
const servers = new Set<BaseServer<any, any, any>>()

/** Registers a server for `cleanup()`. */
export function track<S extends BaseServer<any, any, any>>(server: S): S {
  servers.add(server)
  return server
}

/** Closes every client and server the test opened: for afterEach. */
export async function cleanup(): Promise<void> {
  for (const client of [...clients]) client.close()
  const open = [...servers]
  servers.clear()
  await Promise.all(
    open.map(async (server) => {
      server.blockOnClose = false
      await server.shutdown()
      await server.serverClose()
    }),
  )
}
