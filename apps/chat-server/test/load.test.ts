import { afterEach, expect, it } from 'vitest'
import { runChatLoad } from '../src/load.js'
import { cleanup, startCli } from './helpers.js'

afterEach(cleanup)

// The load: 500 users in 20 rooms, each sending a message a second for 10 seconds, against
// the CLI in its own process (the load generator must not share the server's event loop).
it('delivers every message to every other member of its room exactly once, in order per sender', async () => {
  const chat = await startCli(['--port', '0', '--irc-port', 'off'])
  const report = await runChatLoad({ port: chat.linePort, users: 500, rooms: 20, seconds: 10 })
  const { p50, p99, max } = report.latency
  console.log(
    `chat load: ${report.users} users, ${report.rooms} rooms, ${report.sent} messages sent, ${report.delivered}/${report.expected} delivered; delivery p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${max.toFixed(2)} ms`,
  )
  expect(report.sent).toBe(5000)
  expect(report.expected).toBe(5000 * 24)
  expect({ missing: report.missing, duplicates: report.duplicates, outOfOrder: report.outOfOrder }).toEqual({
    missing: 0,
    duplicates: 0,
    outOfOrder: 0,
  })
  expect(report.delivered).toBe(report.expected)
}, 60_000)
