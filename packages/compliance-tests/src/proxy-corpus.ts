// PROXY protocol headers for the parser's tests and every stream server's socket tests: good ones
// (each with what it must parse to) and a malformed corpus, including bugs other implementations
// shipped (v2 length ignored, TLVs leaked into the payload, a 65 535 length, lax v1 numbers).
import { encodeProxyHeader, PP2_TYPE, type ProxyHeaderReason } from '@socketserver/core'

const SIG = '0d0a0d0a000d0a515549540a'

function v2(hex: string): Buffer {
  return Buffer.from(SIG + hex.replace(/\s+/g, ''), 'hex')
}

/** A v2 header with a TLV section of `tlvs` bytes after an INET block (length fixed up). */
function v2Inet(tlvs: Buffer, command = 0x21): Buffer {
  const fixed = v2(`${command.toString(16)} 11 0000 cb007107 c0000201 d431 0050`)
  const header = Buffer.concat([fixed, tlvs])
  header.writeUInt16BE(header.length - 16, 14)
  return header
}

function tlv(type: number, value: Buffer | string): Buffer {
  const bytes = Buffer.from(value)
  return Buffer.concat([Buffer.from([type, bytes.length >> 8, bytes.length & 0xff]), bytes])
}

const SSL_TLV = tlv(
  PP2_TYPE.SSL,
  Buffer.concat([
    Buffer.from([0x07, 0, 0, 0, 0]),
    tlv(PP2_TYPE.SSL_VERSION, 'TLSv1.3'),
    tlv(PP2_TYPE.SSL_CN, 'client.example'),
    tlv(PP2_TYPE.SSL_CIPHER, 'TLS_AES_128_GCM_SHA256'),
    tlv(PP2_TYPE.SSL_SIG_ALG, 'RSA-SHA256'),
    tlv(PP2_TYPE.SSL_KEY_ALG, 'RSA2048'),
  ]),
)

export interface ProxyGoodHeader {
  name: string
  bytes: Buffer
  /** The client address a server must see ('' keeps the connection's own). */
  client: { address: string; port: number } | undefined
  command: 'PROXY' | 'LOCAL'
}

const withTLVs = encodeProxyHeader({
  version: 2,
  source: { address: '203.0.113.7', port: 54321 },
  destination: { address: '192.0.2.1', port: 80 },
  tlvs: [
    { type: PP2_TYPE.ALPN, value: 'h2' },
    { type: PP2_TYPE.AUTHORITY, value: 'chat.example' },
    { type: PP2_TYPE.UNIQUE_ID, value: 'req-0001' },
    { type: PP2_TYPE.NOOP, value: '' },
    { type: SSL_TLV[0]!, value: SSL_TLV.subarray(3) },
    { type: PP2_TYPE.NETNS, value: 'blue' },
    { type: 0xe0, value: Buffer.from([1, 2, 3]) },
    { type: 0xe0, value: Buffer.from([4]) },
    { type: PP2_TYPE.ALPN, value: 'http/1.1' }, // a duplicate: kept in tlvs, the first decoded
  ],
  crc32c: true,
})

export const PROXY_GOOD_HEADERS: readonly ProxyGoodHeader[] = [
  {
    name: 'v1 TCP4',
    bytes: Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 54321 80\r\n'),
    client: { address: '203.0.113.7', port: 54321 },
    command: 'PROXY',
  },
  {
    name: 'v1 TCP6',
    bytes: Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n'),
    client: { address: '2001:db8::7', port: 65535 },
    command: 'PROXY',
  },
  {
    name: 'v1 UNKNOWN with trailing text',
    bytes: Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'),
    client: undefined,
    command: 'PROXY',
  },
  {
    name: 'v1 longest line (UNKNOWN, 107 bytes)',
    bytes: Buffer.from(
      'PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n',
    ),
    client: undefined,
    command: 'PROXY',
  },
  {
    name: 'v2 INET with TLVs and CRC32C',
    bytes: withTLVs,
    client: { address: '203.0.113.7', port: 54321 },
    command: 'PROXY',
  },
  {
    name: 'v2 INET6',
    bytes: encodeProxyHeader({
      version: 2,
      source: { address: '2001:db8::7', port: 1 },
      destination: { address: '::ffff:192.0.2.1', port: 2 },
    }),
    client: { address: '2001:db8::7', port: 1 },
    command: 'PROXY',
  },
  {
    name: 'v2 UNIX (source path, no port)',
    bytes: encodeProxyHeader({
      version: 2,
      source: { path: '/run/a.sock' },
      destination: { path: '/run/b.sock' },
    }),
    client: undefined,
    command: 'PROXY',
  },
  {
    name: 'v2 LOCAL with trailing TLVs (HAProxy health check with crc32c)',
    bytes: encodeProxyHeader({
      version: 2,
      command: 'LOCAL',
      tlvs: [{ type: PP2_TYPE.NOOP, value: 'xyz' }],
      crc32c: true,
    }),
    client: undefined,
    command: 'LOCAL',
  },
  { name: 'v2 PROXY AF_UNSPEC', bytes: v2('21 00 0000'), client: undefined, command: 'PROXY' },
  {
    name: 'v2 length 65 535 (one NOOP TLV filling it)',
    bytes: v2Inet(tlv(PP2_TYPE.NOOP, Buffer.alloc(65_535 - 12 - 3, 0x41))),
    client: { address: '203.0.113.7', port: 54321 },
    command: 'PROXY',
  },
]

export interface ProxyBadHeader {
  name: string
  bytes: Buffer
  code: 'SOCKSRV_PROXY_HEADER' | 'SOCKSRV_PROXY_CHECKSUM'
  reason?: ProxyHeaderReason
}

const badChecksum = Buffer.from(withTLVs)
badChecksum[badChecksum.length - 1]! ^= 0x01
const tamperedAfterChecksum = Buffer.from(withTLVs)
tamperedAfterChecksum[20]! ^= 0x01 // the source address, under the CRC

export const PROXY_BAD_HEADERS: readonly ProxyBadHeader[] = [
  {
    name: 'not a header (HTTP)',
    bytes: Buffer.from('GET / HTTP/1.0\r\n\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'signature',
  },
  {
    name: 'lowercase proxy',
    bytes: Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'signature',
  },
  {
    name: 'v1 two spaces',
    bytes: Buffer.from('PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'syntax',
  },
  {
    name: 'v1 extra space between fields',
    bytes: Buffer.from('PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'syntax',
  },
  {
    name: 'v1 trailing space',
    bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'syntax',
  },
  {
    name: 'v1 tab',
    bytes: Buffer.from('PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'syntax',
  },
  {
    name: 'v1 missing port',
    bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'syntax',
  },
  {
    name: 'v1 unknown protocol',
    bytes: Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'syntax',
  },
  {
    name: 'v1 LF without CR',
    bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'syntax',
  },
  {
    name: 'v1 leading zero in address',
    bytes: Buffer.from('PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'address',
  },
  {
    name: 'v1 octet over 255',
    bytes: Buffer.from('PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'address',
  },
  {
    name: 'v1 IPv6 under TCP4',
    bytes: Buffer.from('PROXY TCP4 ::1 5.6.7.8 1 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'address',
  },
  {
    name: 'v1 IPv6 zone',
    bytes: Buffer.from('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'address',
  },
  {
    name: 'v1 leading zero in port',
    bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'port',
  },
  {
    name: 'v1 port 65536',
    bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'port',
  },
  {
    name: 'v1 signed port',
    bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'port',
  },
  {
    name: 'v1 no CRLF in 107 bytes',
    bytes: Buffer.from(`PROXY UNKNOWN ${'x'.repeat(93)}`),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'too-long',
  },
  {
    name: 'v1 CRLF at byte 108',
    bytes: Buffer.from(`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'too-long',
  },
  {
    name: 'v2 version 1 nibble',
    bytes: v2('11 11 000c cb007107 c0000201 d431 0050'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'version',
  },
  {
    name: 'v2 version 3 nibble',
    bytes: v2('31 11 000c cb007107 c0000201 d431 0050'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'version',
  },
  {
    name: 'v2 command 2',
    bytes: v2('22 11 000c cb007107 c0000201 d431 0050'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'command',
  },
  { name: 'v2 family 4', bytes: v2('21 41 0000'), code: 'SOCKSRV_PROXY_HEADER', reason: 'family' },
  {
    name: 'v2 transport 3',
    bytes: v2('21 13 000c cb007107 c0000201 d431 0050'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'family',
  },
  {
    name: 'v2 INET with UNSPEC transport',
    bytes: v2('21 10 000c cb007107 c0000201 d431 0050'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'family',
  },
  {
    name: 'v2 length shorter than INET block',
    bytes: v2('21 11 0008 cb007107 c0000201'),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'length',
  },
  {
    name: 'v2 length shorter than INET6 block',
    bytes: v2(`21 21 0020 ${'00'.repeat(32)}`),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'length',
  },
  {
    name: 'v2 TLV header cut by the length',
    bytes: v2Inet(Buffer.from([0x04, 0x00])),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'tlv',
  },
  {
    name: 'v2 TLV value runs past the header',
    bytes: v2Inet(Buffer.from([0x02, 0x00, 0x09, 0x61, 0x62])),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'tlv',
  },
  {
    name: 'v2 length 65 535, last TLV one byte past it',
    bytes: v2Inet(Buffer.concat([Buffer.from([0x04, 0xff, 0xf1]), Buffer.alloc(65_520)])),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'tlv',
  },
  {
    name: 'v2 SSL sub-TLV runs past the SSL TLV',
    bytes: v2Inet(tlv(PP2_TYPE.SSL, Buffer.from([0x01, 0, 0, 0, 0, 0x21, 0x00, 0x07, 0x54]))),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'tlv',
  },
  {
    name: 'v2 SSL TLV shorter than 5 bytes',
    bytes: v2Inet(tlv(PP2_TYPE.SSL, Buffer.from([1, 0]))),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'tlv',
  },
  {
    name: 'v2 CRC32C of 3 bytes',
    bytes: v2Inet(tlv(PP2_TYPE.CRC32C, Buffer.from([1, 2, 3]))),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'tlv',
  },
  {
    name: 'v2 UNIQUE_ID of 129 bytes',
    bytes: v2Inet(tlv(PP2_TYPE.UNIQUE_ID, Buffer.alloc(129, 0x61))),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'tlv',
  },
  {
    name: 'v2 LOCAL with trailing TLVs that run past the length',
    bytes: (() => {
      const header = v2('20 00 0000 05 0010 6162')
      header.writeUInt16BE(header.length - 16, 14)
      return header
    })(),
    code: 'SOCKSRV_PROXY_HEADER',
    reason: 'tlv',
  },
  { name: 'v2 CRC32C mismatch', bytes: badChecksum, code: 'SOCKSRV_PROXY_CHECKSUM' },
  {
    name: 'v2 header altered under its CRC32C',
    bytes: tamperedAfterChecksum,
    code: 'SOCKSRV_PROXY_CHECKSUM',
  },
]

/**
 * Connects from `localAddress`, sends `pieces` (a short pause between them, so each is its own
 * segment), and resolves with the first line the server answers.
 */
export async function proxyExchange(
  port: number,
  pieces: readonly (Buffer | string)[],
  localAddress = '127.0.0.1',
): Promise<string> {
  const { connect } = await import('node:net')
  const socket = connect({ port, host: '127.0.0.1', localAddress, noDelay: true })
  socket.on('error', () => {})
  let received = ''
  const answered = new Promise<string>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1')
      if (received.includes('\n')) resolve(received.slice(0, received.indexOf('\n')))
    })
    socket.on('close', () => resolve(received))
  })
  await new Promise((resolve) => socket.once('connect', resolve))
  for (const [i, piece] of pieces.entries()) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 20))
    if (!socket.destroyed) socket.write(piece)
  }
  const line = await answered
  socket.destroy()
  return line
}
