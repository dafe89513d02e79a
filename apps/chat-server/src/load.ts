/**
 * A load test of a running chat server over the line protocol: `users` connected users spread over
 * `rooms` rooms, each sending `rate` messages a second for `seconds` seconds. Every message must
 * reach every other member of its room exactly once, in the order its sender sent them; the delivery
 * delay (send to receipt, one clock: the load runs in one process) is reported by percentile.
 */
import net from 'node:net'

export interface ChatLoadOptions {
  port: number
  host?: string
  /** Default: `500`. */
  users?: number
  /** Default: `20`. */
  rooms?: number
  /** Default: `10`. */
  seconds?: number
  /** Messages per user per second. Default: `1`. */
  rate?: number
  /** Longest wait for the last deliveries after the last send, in ms. Default: `10000`. */
  settle?: number
  /** Called with a line of progress now and then. */
  progress?: (line: string) => void
}

export interface ChatLoadReport {
  users: number
  rooms: number
  sent: number
  /** Deliveries owed: each message times the other members of its room. */
  expected: number
  delivered: number
  /** Deliveries of a message already delivered to that user. */
  duplicates: number
  /** Deliveries that came before an earlier message of the same sender. */
  outOfOrder: number
  /** Owed deliveries that never came. */
  missing: number
  /** Delivery delay percentiles, in ms. */
  latency: { p50: number; p99: number; max: number }
  /** Time from the first send to the last delivery, in ms. */
  elapsed: number
}

const MESSAGE = /^\[#\S+\] <u(\d+)> m (\d+) (\d+(?:\.\d+)?)$/

class LoadUser {
  readonly socket: net.Socket
  /** Sender index → next sequence number expected from it. */
  readonly next = new Map<number, number>()
  #partial = ''
  #onLine: (line: string) => void = () => {}

  constructor(socket: net.Socket) {
    this.socket = socket
    socket.setEncoding('utf8')
    socket.setNoDelay(true)
    socket.on('data', (chunk: string) => {
      const lines = (this.#partial + chunk).split('\n')
      this.#partial = lines.pop()!
      for (const line of lines) this.#onLine(line)
    })
    socket.on('error', () => {})
  }

  onLine(handler: (line: string) => void): void {
    this.#onLine = handler
  }

  /** Resolves with the first line received from now on that contains `text`. */
  expect(text: string, ms = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${text}" within ${ms} ms`)), ms)
      this.onLine((line) => {
        if (!line.includes(text)) return
        clearTimeout(timer)
        resolve()
      })
    })
  }
}

function connect(port: number, host: string): Promise<LoadUser> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host)
    socket.once('error', reject)
    socket.once('connect', () => resolve(new LoadUser(socket)))
  })
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export async function runChatLoad(options: ChatLoadOptions): Promise<ChatLoadReport> {
  const {
    port,
    host = '127.0.0.1',
    users: userCount = 500,
    rooms = 20,
    seconds = 10,
    rate = 1,
    settle = 10_000,
    progress = () => {},
  } = options
  const users: LoadUser[] = []
  try {
    // Connect and join in batches, so that the listen backlog is never the bottleneck.
    for (let start = 0; start < userCount; start += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, userCount - start) }, async (_, j) => {
          const i = start + j
          const user = await connect(port, host)
          const joined = user.expect(`you joined #r${i % rooms}`)
          user.socket.write(`u${i}\n/join r${i % rooms}\n`)
          await joined
          return user
        }),
      )
      users.push(...batch)
    }
    progress(`${users.length} users connected in ${rooms} rooms`)

    const roomSize = (room: number) => Math.floor(userCount / rooms) + (room < userCount % rooms ? 1 : 0)
    const perSender = seconds * rate
    let expected = 0
    for (let i = 0; i < userCount; i++) expected += perSender * (roomSize(i % rooms) - 1)
    const latencies = new Float64Array(expected)
    let delivered = 0
    let duplicates = 0
    let outOfOrder = 0
    let lastDelivery = 0
    let allDelivered: () => void = () => {}
    const done = new Promise<void>((resolve) => (allDelivered = resolve))

    for (const user of users) {
      user.onLine((line) => {
        const match = MESSAGE.exec(line)
        if (!match) return
        const now = performance.now()
        const sender = Number(match[1])
        const seq = Number(match[2])
        const want = user.next.get(sender) ?? 0
        if (seq < want) duplicates++
        else {
          if (seq > want) outOfOrder++
          user.next.set(sender, seq + 1)
        }
        if (delivered < expected) latencies[delivered] = now - Number(match[3])
        delivered++
        lastDelivery = now
        if (delivered === expected) allDelivered()
      })
    }

    // Each user sends on its own schedule, the starts spread evenly over the first interval.
    const interval = 1000 / rate
    const first = performance.now() + 100
    let sent = 0
    const timers: NodeJS.Timeout[] = []
    const sending = users.map(
      (user, i) =>
        new Promise<void>((resolve) => {
          let seq = 0
          const sendNext = () => {
            user.socket.write(`m ${seq} ${performance.now().toFixed(3)}\n`)
            sent++
            if (++seq === perSender) return resolve()
            timers[i] = setTimeout(
              sendNext,
              first + (i / userCount) * interval + seq * interval - performance.now(),
            )
          }
          timers[i] = setTimeout(sendNext, first + (i / userCount) * interval - performance.now())
        }),
    )
    const ticker = setInterval(() => progress(`${sent} sent, ${delivered}/${expected} delivered`), 2_000)
    await Promise.all(sending)
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, settle))])
    clearInterval(ticker)
    for (const timer of timers) clearTimeout(timer)

    const missing = expected - (delivered - duplicates)
    const sorted = latencies.subarray(0, Math.min(delivered, expected)).sort()
    return {
      users: userCount,
      rooms,
      sent,
      expected,
      delivered,
      duplicates,
      outOfOrder,
      missing,
      latency: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN },
      elapsed: lastDelivery - first,
    }
  } finally {
    for (const user of users) user.socket.destroy()
  }
}
