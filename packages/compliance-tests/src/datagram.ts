import dgram from 'node:dgram'
import { messageClient } from './client.js'
import type { ComplianceClient, HandlerIO, SuiteHandler } from './types.js'

/** What a datagram request's reply socket needs: `dgram.Socket#send`. */
interface ReplySocket {
  send(data: Uint8Array, port: number, address: string, callback: (error: Error | null) => void): void
}

/**
 * `HandlerIO` for datagram servers whose request is Python's `(data, socket)` pair, `[packet,
 * socket]`, and whose client address is `{ address, port }`: `read` returns the packet, `write`
 * sends one datagram back to the client from the server's socket.
 */
export const datagramIO: HandlerIO = {
  async read(handler: SuiteHandler): Promise<Buffer> {
    return (handler.request as [Buffer, unknown])[0]
  },
  write(handler: SuiteHandler, data: Buffer): Promise<void> {
    const socket = (handler.request as [Buffer, ReplySocket])[1]
    const { address, port } = handler.clientAddress as { address: string; port: number }
    return new Promise((resolve, reject) =>
      socket.send(data, port, address, (error) => (error ? reject(error) : resolve())),
    )
  },
}

/** A UDP client; `socket` is there for transport-specific checks. */
export interface DatagramClient extends ComplianceClient {
  readonly socket: dgram.Socket
}

/**
 * Opens a UDP socket bound to port 0 on the loopback address of the server's family; `send` sends
 * one datagram to `{ host, port }`, `receive` resolves with the next datagram from anyone.
 */
export async function connectDatagram({
  host,
  port,
}: {
  host: string
  port: number
}): Promise<DatagramClient> {
  const ipv6 = host.includes(':')
  const socket = dgram.createSocket(ipv6 ? 'udp6' : 'udp4')
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, ipv6 ? '::1' : '127.0.0.1', () => {
      socket.off('error', reject)
      resolve()
    })
  })
  socket.on('error', () => {}) // e.g. ICMP port unreachable after the server closed
  const client = await messageClient((deliver) => {
    socket.on('message', deliver)
    return {
      send: (data) =>
        new Promise((resolve, reject) =>
          socket.send(data, port, host, (error) => (error ? reject(error) : resolve())),
        ),
      close: () => new Promise((resolve) => socket.close(() => resolve())),
    }
  })
  return { ...client, socket }
}
