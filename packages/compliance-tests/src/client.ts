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

/** What `messageClient` wraps: a socket's send and close; replies are handed to `deliver`. */
export interface MessageSocket {
  send(data: Buffer): Promise<void> | void
  close(): Promise<void> | void
}

/**
 * A datagram client over any socket: `open(deliver)` opens it, calling `deliver` with each message
 * received; `receive()` resolves with the next one. For transports without a ready-made client
 * (e.g. Unix datagram sockets).
 */
export async function messageClient(
  open: (deliver: (data: Buffer) => void) => Promise<MessageSocket> | MessageSocket,
): Promise<ComplianceClient> {
  const messages: Buffer[] = []
  let wake: (() => void) | undefined
  let closed = false
  const socket = await open((data) => {
    messages.push(data)
    const w = wake
    wake = undefined
    w?.()
  })
  return {
    async send(data) {
      await socket.send(typeof data === 'string' ? Buffer.from(data) : data)
    },
    async receive() {
      while (messages.length === 0) await new Promise<void>((resolve) => (wake = resolve))
      return messages.shift()!
    },
    async close() {
      if (closed) return
      closed = true
      await socket.close()
    },
  }
}
