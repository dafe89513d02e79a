import { randomBytes, randomInt } from 'node:crypto'
import dgram from 'node:dgram'
import { startServer } from '../proc.js'
import type { Scenario } from '../scenario.js'

const PER_SERVICE = 200
const MAX_UDP = 65_507
const EDGES = [0, 1, 1024, 1025, 8192, 8193, MAX_UDP]
const ECHO_MAX_PACKET = 8192 // UDPServer's default maxPacketSize
const TIME_MAX_PACKET = 1024 // the time server's

/** A UDP client that sends one datagram at a time and waits (bounded) for the replies to it. */
async function udpClient() {
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const inbox: Buffer[] = []
  let wake: (() => void) | undefined
  socket.on('message', (message) => {
    inbox.push(message)
    wake?.()
  })
  const nextReply = (ms: number) =>
    new Promise<Buffer | undefined>((resolve) => {
      if (inbox.length > 0) return resolve(inbox.shift())
      const timer = setTimeout(() => {
        wake = undefined
        resolve(undefined)
      }, ms)
      wake = () => {
        clearTimeout(timer)
        wake = undefined
        resolve(inbox.shift())
      }
    })
  const send = (payload: Buffer, port: number) =>
    new Promise<void>((resolve, reject) =>
      socket.send(payload, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
    )
  return { socket, nextReply, send }
}

function sntpRequest(): Buffer {
  const packet = Buffer.alloc(48)
  packet[0] = (4 << 3) | 3 // version 4, mode 3 (client)
  randomBytes(8).copy(packet, 40) // transmit timestamp, echoed back as the originate timestamp
  return packet
}

export const garbageDatagrams: Scenario = {
  id: 5,
  title: 'Garbage datagrams',
  async run(r) {
    r.set({
      servers: `UDP echo (echo server app, maxPacketSize ${ECHO_MAX_PACKET}, 'truncate'); time server app's UDP time, daytime and SNTP (maxPacketSize ${TIME_MAX_PACKET}, 'truncate')`,
      load: `${PER_SERVICE} datagrams to each of the 4 UDP services, one in flight at a time`,
      badInputs: `random bytes, random sizes 0–${MAX_UDP} (plus ${EDGES.join(', ')}); SNTP gets garbage instead of requests`,
    })
    const echo = await startServer('echo', { listeners: [{ transport: 'udp', host: '127.0.0.1', port: 0 }] })
    const time = await startServer('time')
    const client = await udpClient()
    try {
      const sizes = [
        ...EDGES,
        ...Array.from({ length: PER_SERVICE - EDGES.length }, () => randomInt(0, MAX_UDP + 1)),
      ]
      const services = [
        { name: 'echo', port: echo.ready.port as number, limit: ECHO_MAX_PACKET },
        { name: 'time', port: time.ready.port as number, limit: TIME_MAX_PACKET },
        { name: 'daytime', port: time.ready.daytimePort as number, limit: TIME_MAX_PACKET },
        { name: 'sntp', port: time.ready.sntpPort as number, limit: TIME_MAX_PACKET },
      ]
      const figures: Record<string, unknown> = {}
      for (const service of services) {
        let replies = 0
        let wrong = 0
        for (const size of sizes) {
          const payload = randomBytes(size)
          await client.send(payload, service.port)
          if (service.name === 'sntp') {
            // Garbage gets no answer (unless its first bytes happen to make a valid request); a real
            // request right after, whose answer names its transmit timestamp, proves both were handled.
            const request = sntpRequest()
            await client.send(request, service.port)
            const stamp = request.subarray(40, 48)
            let answered = false
            for (let reply = await client.nextReply(1_000); reply; reply = await client.nextReply(1_000)) {
              if (reply.length === 48 && reply.subarray(24, 32).equals(stamp)) {
                answered = true
                break
              }
            }
            if (answered) replies++
            else wrong++
            continue
          }
          const reply = await client.nextReply(size === 0 && service.name === 'echo' ? 100 : 1_000)
          if (service.name === 'echo') {
            // RFC 862 echoes what was received: the first maxPacketSize bytes ('truncate').
            const expected = payload.subarray(0, Math.min(size, service.limit))
            if (reply?.equals(expected)) replies++
            else if (!(size === 0 && reply === undefined)) wrong++ // an empty datagram gets an empty reply or none
          } else if (
            reply &&
            reply.length === (service.name === 'time' ? 4 : reply.length) &&
            reply.length > 0
          ) {
            replies++
          } else wrong++
        }
        figures[service.name] = {
          sent: sizes.length,
          oversizedSent: sizes.filter((s) => s > service.limit).length,
          replies,
          wrong,
        }
      }
      const echoStats = await echo.stats()
      const timeStats = await time.stats()
      // Servers of the time app in order: time tcp, time udp, daytime tcp, daytime udp, sntp udp.
      const counted: Record<string, number> = {
        echo: echoStats.oversized[0],
        time: timeStats.oversized[1],
        daytime: timeStats.oversized[3],
        sntp: timeStats.oversized[4],
      }
      r.figure('services', figures)
      r.figure('oversizedCounted', counted)
      for (const service of services) {
        const f = figures[service.name] as { oversizedSent: number; replies: number; wrong: number }
        r.check(
          `${service.name}: every datagram over maxPacketSize (${service.limit}) truncated and counted`,
          counted[service.name] === f.oversizedSent,
          `${counted[service.name]} counted, ${f.oversizedSent} sent`,
        )
        r.check(`${service.name}: every datagram answered as documented`, f.wrong === 0, f)
      }
      r.check('neither server crashed', !echo.hasExited() && !time.hasExited())
      r.set({ lost: 0 })
    } finally {
      client.socket.close()
      await echo.kill()
      await time.kill()
    }
  },
}
