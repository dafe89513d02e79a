#!/usr/bin/env node
import { isIP } from 'node:net'
import { shutdownOnSignals } from '@socketserver/core'
import { type CliOptions, PROGRAM, parseCliArgs, USAGE, UsageError } from './options.js'
import { startTimeServer, type TimeServer } from './server.js'

const say = (line: string) => process.stdout.write(`${line}\n`)

async function main(argv: string[]): Promise<number | undefined> {
  let options: CliOptions
  try {
    options = parseCliArgs(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`${PROGRAM}: ${error.message}\nTry '${PROGRAM} --help' for more information.\n`)
    return 2
  }
  if (options.help) {
    process.stdout.write(USAGE)
    return 0
  }

  let time: TimeServer
  try {
    time = await startTimeServer({
      host: options.host,
      timePort: options.timePort,
      daytimePort: options.daytimePort,
      sntpPort: options.sntpPort,
      rateLimit: { rate: options.rate, burst: options.burst },
    })
  } catch (error) {
    process.stderr.write(`${PROGRAM}: ${(error as Error).message}\n`)
    return 1
  }
  // One line per listener with the real port: scripts and tests read it.
  for (const { label } of time.listeners) say(`time-server: listening on ${label}`)
  if (!isLoopback(options.host)) {
    process.stderr.write(
      `${PROGRAM}: warning: UDP services on ${options.host} are reachable from other hosts; each source address is limited to ${options.rate}/s (burst ${options.burst})\n`,
    )
  }

  shutdownOnSignals(time.servers, {
    timeout: options.drainTimeout,
    onSignal(signal) {
      time.stopAccepting()
      say(
        `time-server: ${signal}: stopped accepting; draining for up to ${options.drainTimeout} ms (${signal} again forces exit)`,
      )
    },
    onClosed({ aborted }) {
      const { replies, dropped } = time.stats
      const summary = Object.entries(replies)
        .map(([name, n]) => `${name} ${n}`)
        .join(', ')
      process.stdout.write(
        `time-server: stopped: replies ${summary}; not answered: ${dropped.sourcePort} from service ports, ${dropped.rateLimited} over the rate limit, ${dropped.malformed} malformed; ${aborted} cut short\n`,
        () => process.exit(0),
      )
    },
  })

  time.serving.catch((error: unknown) => {
    process.stderr.write(`${PROGRAM}: serve loop failed: ${(error as Error)?.stack ?? error}\n`)
    process.exit(1)
  })
  return undefined
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`${PROGRAM}: ${(error as Error)?.stack ?? error}\n`)
    process.exitCode = 1
  },
)
