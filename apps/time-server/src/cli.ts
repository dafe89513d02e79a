#!/usr/bin/env node
import { isIP } from 'node:net'
import { runCli, say } from '@socketserver/app-cli'
import { PROGRAM, parseCliArgs, USAGE } from './options.js'
import { startTimeServer } from './server.js'

void runCli({
  program: PROGRAM,
  usage: USAGE,
  parse: parseCliArgs,
  start: (options) =>
    startTimeServer({
      host: options.host,
      timePort: options.timePort,
      daytimePort: options.daytimePort,
      sntpPort: options.sntpPort,
      rateLimit: { rate: options.rate, burst: options.burst },
    }),
  listening(time, options) {
    // One line per listener with the real port: scripts and tests read it.
    for (const { label } of time.listeners) say(`time-server: listening on ${label}`)
    if (!isLoopback(options.host)) {
      process.stderr.write(
        `${PROGRAM}: warning: UDP services on ${options.host} are reachable from other hosts; each source address is limited to ${options.rate}/s (burst ${options.burst})\n`,
      )
    }
  },
  draining: (_time, signal, { drainTimeout }) =>
    `time-server: ${signal}: stopped accepting; draining for up to ${drainTimeout} ms (${signal} again forces exit)`,
  stopped(time, aborted) {
    const { replies, dropped } = time.stats
    const summary = Object.entries(replies)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ')
    return `time-server: stopped: replies ${summary}; not answered: ${dropped.sourcePort} from service ports, ${dropped.rateLimited} over the rate limit, ${dropped.malformed} malformed; ${aborted} cut short`
  },
})

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}
