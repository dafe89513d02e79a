#!/usr/bin/env node
import { isIP } from 'node:net'
import { inheritedListeners, runCli, say } from '@socketserver/app-cli'
import { PROGRAM, parseCliArgs, USAGE } from './options.js'
import { SERVICES, type ServiceName, startTimeServer } from './server.js'

void runCli({
  program: PROGRAM,
  usage: USAGE,
  parse: parseCliArgs,
  addressOptions: ['--host', '--time-port', '--daytime-port', '--sntp-port'],
  async start(options) {
    const time = await startTimeServer({
      sockets: passedSockets(),
      host: options.host,
      timePort: options.timePort,
      daytimePort: options.daytimePort,
      sntpPort: options.sntpPort,
      rateLimit: { rate: options.rate, burst: options.burst },
    })
    return Object.assign(time, { fdNames: time.listeners.map((l) => l.service) })
  },
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

/** Sockets passed by systemd or a restart, each named after its service (`FileDescriptorName=time`). */
function passedSockets() {
  const passed = inheritedListeners()
  if (passed.length === 0) return undefined
  return passed.map(({ name, transport, inherited }) => {
    if (!Object.hasOwn(SERVICES, name) || (transport !== 'tcp' && transport !== 'udp')) {
      throw new Error(
        `a passed socket (${transport}, named '${name}') is not for a service: name each one time, daytime or sntp (FileDescriptorName=), over TCP or UDP`,
      )
    }
    return { service: name as ServiceName, transport, inherited }
  })
}
