#!/usr/bin/env node
import { inheritedListeners, runCli, say } from '@socketserver/app-cli'
import { PROGRAM, parseCliArgs, USAGE } from './options.js'
import { startEchoServer } from './server.js'

void runCli({
  program: PROGRAM,
  usage: USAGE,
  parse: parseCliArgs,
  addressOptions: ['--listen', '--host', '--port'],
  async start(options) {
    // Started with sockets (systemd, or a restart): serve on each, whatever its kind.
    const passed = inheritedListeners()
    const listeners = passed.length
      ? passed.map(({ transport, address, inherited, name }) =>
          typeof address === 'string'
            ? { transport: transport as 'unix' | 'unix-dgram', path: address, inherited, name }
            : { transport: transport as 'tcp' | 'udp', ...address, inherited, name },
        )
      : options.listeners
    const echo = await startEchoServer({
      listeners,
      mode: options.mode,
      idleTimeout: options.idleTimeout,
      tls: options.tls,
      proxyProtocol: options.proxyProtocol,
    })
    return Object.assign(echo, { fdNames: echo.listeners.map((l) => l.name) })
  },
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
