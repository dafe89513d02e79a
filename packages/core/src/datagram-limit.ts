import { channels } from './channels.js'

/** What a datagram server does with a datagram longer than `maxPacketSize`. */
export type OversizedPacketPolicy = 'truncate' | 'drop'

/** The fields of a datagram server that `limitPacket()` reads and counts into. */
export interface PacketLimits {
  maxPacketSize: number
  oversizedPackets: OversizedPacketPolicy
  oversizedPacketCount: number
}

/**
 * Python's `recvfrom(max_packet_size)` for transports whose sockets hand over whole datagrams:
 * returns the packet to queue (cut to `maxPacketSize` with `'truncate'`, Python's result) or
 * `undefined` to drop it. Each oversized datagram is counted and published on
 * `socketserver:packet:oversized`; Python loses the rest silently.
 */
export function limitPacket(
  server: PacketLimits,
  packet: Buffer,
  clientAddress: unknown,
): Buffer | undefined {
  if (packet.length <= server.maxPacketSize) return packet
  server.oversizedPacketCount++
  const action = server.oversizedPackets
  if (channels.packetOversized.hasSubscribers) {
    channels.packetOversized.publish({
      server,
      clientAddress,
      size: packet.length,
      limit: server.maxPacketSize,
      action,
    })
  }
  if (action === 'drop') return undefined
  // A copy, so that a queued request holds maxPacketSize bytes and not the whole datagram.
  return Buffer.from(packet.subarray(0, server.maxPacketSize))
}
