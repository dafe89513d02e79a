import type { ComplianceClient } from './types.js'

/** Receives until the bytes so far contain a newline, or the connection ends (Python's `stream_examine`). */
export async function receiveLine(client: ComplianceClient): Promise<Buffer> {
  const parts: Buffer[] = []
  for (;;) {
    const data = await client.receive()
    if (data.length === 0) break
    parts.push(data)
    if (data.includes(10)) break
  }
  return Buffer.concat(parts)
}

/** Receives until the server closes the connection (stream clients only). */
export async function receiveAll(client: ComplianceClient): Promise<Buffer> {
  const parts: Buffer[] = []
  for (let data = await client.receive(); data.length > 0; data = await client.receive()) parts.push(data)
  return Buffer.concat(parts)
}
