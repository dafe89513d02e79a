#!/usr/bin/env node
import { runCli, say } from '@socketserver/app-cli'
import { PROGRAM, parseCliArgs, USAGE } from './options.js'
import { startEchoServer } from './server.js'

void runCli({
  program: PROGRAM,
  usage: USAGE,
  parse: parseCliArgs,
  start: (options) =>
    startEchoServer({
      listeners: options.listeners,
      mode: options.mode,
      idleTimeout: options.idleTimeout,
      tls: options.tls,
    }),
  // Only once the signal handlers are in place: whoever reads the line may signal us straight away.
  listening(echo) {
    for (const { label } of echo.listeners) say(`echo: listening on ${label} (mode ${echo.mode})`)
  },
  draining: (echo, signal, { drainTimeout }) =>
    `echo: ${signal}: stopped accepting; draining ${echo.openConnections} open connection(s) for up to ${drainTimeout} ms (${signal} again forces exit)`,
  stopped(echo, aborted) {
    const { connections, datagrams, bytes, idleClosed } = echo.stats
    const refused = echo.udpGuard.dropped
    return `echo: stopped: ${connections} connection(s) and ${datagrams} datagram(s) served, ${echo.mode === 'thread' || echo.mode === 'fork' ? 'bytes counted in the workers' : `${bytes} byte(s) echoed`}, ${idleClosed} closed idle, ${aborted} cut short at the drain timeout, ${refused.sourcePort + refused.rateLimited} datagram(s) refused`
  },
})
