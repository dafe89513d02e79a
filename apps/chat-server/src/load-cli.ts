#!/usr/bin/env node
// Runs the chat load test against a server already listening: node dist/load-cli.js PORT [USERS ROOMS SECONDS]
import { runChatLoad } from './load.js'

const [port, users = '500', rooms = '20', seconds = '10'] = process.argv.slice(2)
if (!port) {
  process.stderr.write('usage: socketserver-chat-load PORT [USERS ROOMS SECONDS]\n')
  process.exit(2)
}
const report = await runChatLoad({
  port: Number(port),
  users: Number(users),
  rooms: Number(rooms),
  seconds: Number(seconds),
  progress: (line) => process.stderr.write(`load: ${line}\n`),
})
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
process.exitCode = report.missing === 0 && report.duplicates === 0 && report.outOfOrder === 0 ? 0 : 1
