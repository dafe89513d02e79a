#!/usr/bin/env node
import { shutdownOnSignals } from '@socketserver/core'
import { type CliOptions, PROGRAM, parseCliArgs, USAGE, UsageError } from './options.js'
import { type ChatServer, startChatServer } from './server.js'

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

  let chat: ChatServer
  try {
    chat = await startChatServer({
      host: options.host,
      port: options.port,
      ircPort: options.ircPort,
      mode: options.mode,
      bus: options.bus,
      redisPrefix: options.redisPrefix,
      workers: options.workers,
      limits: {
        maxLineLength: options.maxLineLength,
        messageRate: options.messageRate,
        maxOutputBuffer: options.maxOutputBuffer,
        idleTimeout: options.idleTimeout,
      },
    })
  } catch (error) {
    process.stderr.write(`${PROGRAM}: ${(error as Error).message}\n`)
    return 1
  }
  shutdownOnSignals(chat.servers, {
    timeout: options.drainTimeout,
    onSignal(signal) {
      chat.stopAccepting()
      const told = chat.node?.disconnectAll('server shutting down') ?? 0
      say(
        `chat: ${signal}: stopped accepting; ${chat.node ? `told ${told} user(s) and closing their connections` : `closing connections within ${options.drainTimeout} ms`} (${signal} again forces exit)`,
      )
    },
    onClosed({ aborted }) {
      const { connections, messages, rateLimited, invalidLines, longLines, slowConsumers, idleClosed } =
        chat.stats
      const summary = chat.node
        ? `${connections} connection(s), ${messages} message(s) relayed, ${rateLimited} line(s) over the rate limit, ${invalidLines} invalid line(s), ${longLines} too long, ${slowConsumers} slow reader(s) and ${idleClosed} idle client(s) disconnected`
        : 'counters kept in the workers'
      chat
        .close()
        .finally(() =>
          process.stdout.write(`chat: stopped: ${summary}; ${aborted} cut short at the drain timeout\n`, () =>
            process.exit(0),
          ),
        )
    },
  })

  // Only now say where we listen: whoever reads the line may connect or signal straight away.
  for (const { label } of chat.listeners)
    say(`chat: listening on ${label} (mode ${chat.mode}, bus ${chat.bus})`)

  chat.serving.catch((error: unknown) => {
    process.stderr.write(`${PROGRAM}: serve loop failed: ${(error as Error)?.stack ?? error}\n`)
    process.exit(1)
  })
  return undefined
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
