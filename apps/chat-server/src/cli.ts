#!/usr/bin/env node
import { inheritedListeners, runCli, say } from '@socketserver/app-cli'
import { PROGRAM, parseCliArgs, USAGE } from './options.js'
import { type ChatProtocol, startChatServer } from './server.js'

void runCli({
  program: PROGRAM,
  usage: USAGE,
  parse: parseCliArgs,
  addressOptions: ['--host', '--port', '--irc-port', '--tls-port', '--irc-tls-port'],
  async start(options) {
    // Passed sockets (systemd, a restart): each named by its protocol ('irc', 'irc+tls', 'line+tls');
    // any other name serves the line protocol.
    const passed = inheritedListeners()
    for (const { transport, name } of passed) {
      if (transport !== 'tcp')
        throw new Error(`chat serves TCP only; a ${transport} socket ('${name}') was passed`)
    }
    const chat = await startChatServer({
      sockets: passed.length
        ? passed.map(({ name, inherited }) => ({ protocol: chatProtocolNamed(name), inherited }))
        : undefined,
      host: options.host,
      port: options.port,
      ircPort: options.ircPort,
      tlsPort: options.tlsPort,
      ircTlsPort: options.ircTlsPort,
      tls: options.tls,
      mode: options.mode,
      bus: options.bus,
      redisPrefix: options.redisPrefix,
      workers: options.workers,
      proxyProtocol: options.proxyProtocol,
      limits: {
        maxLineLength: options.maxLineLength,
        messageRate: options.messageRate,
        maxOutputBuffer: options.maxOutputBuffer,
        idleTimeout: options.idleTimeout,
      },
    })
    return Object.assign(chat, { fdNames: chat.listeners.map((l) => l.protocol) })
  },
  // Only once the signal handlers are in place: whoever reads the line may connect or signal straight away.
  listening(chat) {
    for (const { label } of chat.listeners)
      say(`chat: listening on ${label} (mode ${chat.mode}, bus ${chat.bus})`)
  },
  draining(chat, signal, { drainTimeout }) {
    const told = chat.node?.disconnectAll('server shutting down') ?? 0
    return `chat: ${signal}: stopped accepting; ${chat.node ? `told ${told} user(s) and closing their connections` : `closing connections within ${drainTimeout} ms`} (${signal} again forces exit)`
  },
  async stopped(chat, aborted) {
    const { connections, messages, rateLimited, invalidLines, longLines, slowConsumers, idleClosed } =
      chat.stats
    const summary = chat.node
      ? `${connections} connection(s), ${messages} message(s) relayed, ${rateLimited} line(s) over the rate limit, ${invalidLines} invalid line(s), ${longLines} too long, ${slowConsumers} slow reader(s) and ${idleClosed} idle client(s) disconnected`
      : 'counters kept in the workers'
    await chat.close()
    return `chat: stopped: ${summary}; ${aborted} cut short at the drain timeout`
  },
})

function chatProtocolNamed(name: string): ChatProtocol {
  return name === 'irc' || name === 'irc+tls' || name === 'line+tls' ? name : 'line'
}
