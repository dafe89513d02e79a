import type net from 'node:net'
import { ask, connect, exchange } from '../client.js'
import { sleep, startServer, waitUntil } from '../proc.js'
import type { Scenario } from '../scenario.js'

const LIMIT = 5
const OPEN = 8

export const accessControl: Scenario = {
  id: 10,
  title: 'Access control',
  async run(r) {
    r.set({
      servers: "EventLoopTCPServer with core's accessControl option, on 127.0.0.1 and on ::1",
      load: `per family: 3 list configurations; ${OPEN} connections at once against maxConnectionsPerAddress ${LIMIT}`,
      badInputs: 'clients from denied addresses, from outside the allow list, and over the per-address limit',
    })
    let lost = 0
    for (const [family, host, own, range] of [
      ['IPv4', '127.0.0.1', '127.0.0.1', '127.0.0.0/8'],
      ['IPv6', '::1', '::1', '::1/128'],
    ] as const) {
      const cases = [
        { name: `allow [${range}]`, accessControl: { allow: [range] }, served: true },
        {
          name: `allow [${range}], deny [${own}]`,
          accessControl: { allow: [range], deny: [own] },
          served: false,
        },
        {
          name: 'allow [10.0.0.0/8, fd00::/8]',
          accessControl: { allow: ['10.0.0.0/8', 'fd00::/8'] },
          served: false,
        },
      ]
      for (const c of cases) {
        const server = await startServer('access', { host, accessControl: c.accessControl })
        try {
          const result = await exchange({ host, port: server.ready.port }, 'x\n', { untilClose: false })
          const stats = await server.stats()
          const served = result.data === 'ok:x\n'
          r.check(`${family}: ${c.name} → ${c.served ? 'served' : 'refused'}`, served === c.served, {
            outcome: result.outcome,
            refused: stats.refused,
          })
          if (c.served && !served) lost++
        } finally {
          await server.kill()
        }
      }
      const server = await startServer('access', { host, accessControl: { maxConnectionsPerAddress: LIMIT } })
      const sockets: net.Socket[] = []
      try {
        for (let i = 0; i < OPEN; i++) sockets.push(await connect({ host, port: server.ready.port }))
        const answers = await Promise.all(sockets.map((s, i) => ask(s, `c${i}\n`)))
        const served = answers.filter((a) => a.startsWith('ok:')).length
        r.check(
          `${family}: ${OPEN} connections against a limit of ${LIMIT}: ${LIMIT} served, the rest closed`,
          served === LIMIT && answers.filter((a) => a === 'closed').length === OPEN - LIMIT,
          answers,
        )
        // Two served connections end; their counts are released and two new clients get in.
        const ended = sockets.filter((_, i) => answers[i]!.startsWith('ok:')).slice(0, 2)
        for (const socket of ended) socket.end()
        await waitUntil(
          async () => (await server.stats()).open === LIMIT - 2,
          5_000,
          'the counts to be released',
        )
        await sleep(50)
        const again = await Promise.all(
          [0, 1].map(async (i) => ask(await connect({ host, port: server.ready.port }), `n${i}\n`)),
        )
        const stats = await server.stats()
        r.check(
          `${family}: admitted again once connections ended`,
          again.every((a) => a.startsWith('ok:')),
          { again, refused: stats.refused },
        )
        lost += again.filter((a) => !a.startsWith('ok:')).length
      } finally {
        for (const socket of sockets) socket.destroy()
        await server.kill()
      }
    }
    r.set({ lost })
  },
}
