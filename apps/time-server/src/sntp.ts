import { writeNtpTimestamp } from './time.js'

/** An NTP packet without extension fields or authenticator. */
export const NTP_PACKET_SIZE = 48

export interface SntpServerConfig {
  /** Stratum announced, 1 to 15. Default: `1` (a primary server on its own clock). */
  stratum?: number
  /** Reference identifier, up to 4 ASCII characters (stratum 1). Default: `'LOCL'` (RFC 4330: uncalibrated local clock). */
  referenceId?: string
  /** Clock precision as a power of two of seconds. Default: `-10` (about 1 ms: `Date.now()` resolution). */
  precision?: number
}

export interface SntpRequest {
  version: number
  mode: number
  poll: number
  /** The client's transmit timestamp (bytes 40-47), echoed as our originate timestamp. */
  transmit: Buffer
}

/**
 * Reads a client request; `undefined` for anything the server must not answer: shorter than 48
 * bytes, a version other than 1-4, or a mode other than client (3) or symmetric active (1), which
 * also rules out answering another server's reply.
 */
export function parseSntpRequest(packet: Buffer): SntpRequest | undefined {
  if (packet.length < NTP_PACKET_SIZE) return undefined
  const first = packet[0]!
  const version = (first >> 3) & 0x07
  const mode = first & 0x07
  if (version < 1 || version > 4) return undefined
  if (mode !== 3 && mode !== 1) return undefined
  return { version, mode, poll: packet[2]!, transmit: packet.subarray(40, 48) }
}

/**
 * The server reply of RFC 4330 section 5: LI 0, the request's version, mode 4 (2 for symmetric
 * active), stratum, poll copied, precision, root delay 0, root dispersion about the precision,
 * reference id, reference and receive timestamps (`receivedAt`), originate = the request's transmit
 * timestamp, transmit = `transmitAt`. Times are ms since the Unix epoch.
 */
export function buildSntpReply(
  request: SntpRequest,
  receivedAt: number,
  transmitAt: number,
  { stratum = 1, referenceId = 'LOCL', precision = -10 }: SntpServerConfig = {},
): Buffer {
  const reply = Buffer.alloc(NTP_PACKET_SIZE)
  const mode = request.mode === 3 ? 4 : 2
  reply[0] = (0 << 6) | (request.version << 3) | mode
  reply[1] = stratum
  reply[2] = request.poll
  reply.writeInt8(precision, 3)
  reply.writeUInt32BE(0, 4) // root delay: we are the reference
  // Root dispersion in NTP short format (16.16 seconds): one precision step.
  reply.writeUInt32BE(Math.max(1, Math.round(2 ** precision * 65_536)), 8)
  reply.write(referenceId.padEnd(4, '\0').slice(0, 4), 12, 'latin1')
  writeNtpTimestamp(reply, 16, receivedAt)
  request.transmit.copy(reply, 24)
  writeNtpTimestamp(reply, 32, receivedAt)
  writeNtpTimestamp(reply, 40, transmitAt)
  return reply
}
