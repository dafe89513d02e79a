// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), what the v2 CRC32C TLV carries. Node's zlib
// has CRC-32 (IEEE) only. A header is at most 64 KiB and usually under 100 bytes: a byte table does.
const TABLE = new Uint32Array(256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
  TABLE[n] = c >>> 0
}

/** Folds `bytes` into a running CRC32C (`crc` from a previous call, or `0` to start). */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}
