/** Milliseconds since the Unix epoch, like `Date.now()`; injected so tests can stand anywhere in time. */
export type Clock = () => number

export const systemClock: Clock = () => Date.now()

/** Seconds from 1900-01-01 (the RFC 868 and NTP epoch) to 1970-01-01. */
export const EPOCH_1900_OFFSET = 2_208_988_800

const TWO_POW_32 = 2 ** 32

/**
 * RFC 868: seconds since 1900-01-01T00:00:00Z as an unsigned 32-bit number. It wraps to 0 at
 * 2036-02-07T06:28:16Z (NTP era 1); taking it modulo 2^32 keeps it right on both sides.
 */
export function rfc868Seconds(ms: number): number {
  const seconds = Math.floor(ms / 1000) + EPOCH_1900_OFFSET
  return ((seconds % TWO_POW_32) + TWO_POW_32) % TWO_POW_32
}

/** The 4-byte big-endian reply of RFC 868. */
export function rfc868Bytes(ms: number): Buffer {
  const out = Buffer.allocUnsafe(4)
  out.writeUInt32BE(rfc868Seconds(ms), 0)
  return out
}

/** Writes an NTP timestamp (32-bit seconds since 1900 modulo 2^32, 32-bit fraction) at `offset`. */
export function writeNtpTimestamp(buffer: Buffer, offset: number, ms: number): void {
  const wholeSeconds = Math.floor(ms / 1000)
  const fraction = Math.min(TWO_POW_32 - 1, Math.floor(((ms - wholeSeconds * 1000) / 1000) * TWO_POW_32))
  buffer.writeUInt32BE(rfc868Seconds(wholeSeconds * 1000), offset)
  buffer.writeUInt32BE(fraction, offset + 4)
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
]

/**
 * RFC 867 leaves the format free and suggests `Weekday, Month Day, Year Time-Zone`; this is that,
 * in UTC: `Tuesday, February 22, 1982 17:37:43-UTC` and CRLF.
 */
export function daytimeString(ms: number): string {
  const d = new Date(ms)
  const pad = (n: number) => String(n).padStart(2, '0')
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  return `${WEEKDAYS[d.getUTCDay()]}, ${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()} ${time}-UTC\r\n`
}
