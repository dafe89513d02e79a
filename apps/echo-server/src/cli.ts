#!/usr/bin/env node
import { shutdownOnSignals } from '@socketserver/core'
import { type CliOptions, PROGRAM, parseCliArgs, USAGE, UsageError } from './options.js'
import { startEchoServer } from './server.js'

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

  let echo: Awaited<ReturnType<typeof startEchoServer>>
  try {
    echo = await startEchoServer({
      listeners: options.listeners,
      mode: options.mode,
      idleTimeout: options.idleTimeout,
    })
  } catch (error) {
    process.stderr.write(`${PROGRAM}: ${(error as Error).message}\n`)
    return 1
  }
  shutdownOnSignals(echo.servers, {
    timeout: options.drainTimeout,
    onSignal(signal) {
      // Close the listeners before saying so, so that whoever reads the line can rely on it.
      echo.stopAccepting()
      say(
        `echo: ${signal}: stopped accepting; draining ${echo.openConnections} open connection(s) for up to ${options.drainTimeout} ms (${signal} again forces exit)`,
      )
    },
    onClosed({ aborted }) {
      const { connections, datagrams, bytes, idleClosed } = echo.stats
      const refused = echo.udpGuard.dropped
      // Exit now rather than when the last handle lets go: a socket still flushing to a client that
      // does not read could hold the process for closeTimeout after the drain was declared over.
      process.stdout.write(
        `echo: stopped: ${connections} connection(s) and ${datagrams} datagram(s) served, ${echo.mode === 'thread' || echo.mode === 'fork' ? 'bytes counted in the workers' : `${bytes} byte(s) echoed`}, ${idleClosed} closed idle, ${aborted} cut short at the drain timeout, ${refused.sourcePort + refused.rateLimited} datagram(s) refused\n`,
        () => process.exit(0),
      )
    },
  })

  // Only now say where we listen: whoever reads the line may signal us straight away.
  for (const { label } of echo.listeners) say(`echo: listening on ${label} (mode ${echo.mode})`)

  echo.serving.catch((error: unknown) => {
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
