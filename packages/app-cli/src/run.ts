import { type BaseServer, listenFds, shutdownOnSignals } from '@socketserver/core'
import { type MetricsAddress, type MetricsService, startMetrics } from './metrics.js'
import { UsageError } from './options.js'
import { reloadOnSighup, serviceControl } from './service.js'

/** What an app's `start` gives back: its servers, serving, and a way to close their listeners. */
export interface RunningServers {
  readonly servers: ReadonlyArray<BaseServer<any, any, any>>
  /** Settles when every serve loop ends; a rejection ends the process with status 1. */
  readonly serving: Promise<unknown>
  stopAccepting(): void
  /** Each server's descriptor name for a restart (`LISTEN_FDNAMES`), so the new process knows which is which. Default: `''`. */
  readonly fdNames?: readonly string[]
}

/** The options every app parses: `--help` and `--drain-timeout`, and `--metrics` if it offers it. */
export interface BaseCliOptions {
  help: boolean
  drainTimeout: number
  /** Serve Prometheus metrics of every server here (`metricsAddress()` parses it). */
  metrics?: MetricsAddress | undefined
}

/** One app's command line: its name and texts, and what it does at each step. */
export interface CliApp<O extends BaseCliOptions, S extends RunningServers> {
  /** Starts every error line: `PROGRAM: message`. */
  program: string
  /** Printed as is for `--help`. */
  usage: string
  /** Options that say where to listen: ignored, with a notice, when the app is given its sockets (socket activation). */
  addressOptions?: readonly string[]
  /** Parses the arguments (without the node and script paths); throws `UsageError` on a bad one. */
  parse(argv: string[]): O
  /** Binds and starts serving; a rejection is printed as `PROGRAM: message` and exits 1. */
  start(options: O): Promise<S>
  /** Runs once the signal handlers are in place: say where it listens (the reader may signal at once). */
  listening(servers: S, options: O): void
  /** On the first SIGINT/SIGTERM, after `stopAccepting()`: the line to print (a second signal forces exit). */
  draining(servers: S, signal: NodeJS.Signals, options: O): string
  /** Once every connection closed or was cut short (`aborted`): the last line; exits 0 when it is written. */
  stopped(servers: S, aborted: number, options: O): string | Promise<string>
}

/** Writes a line to stdout. */
export function say(line: string): void {
  process.stdout.write(`${line}\n`)
}

/**
 * Runs an app's command line: a `UsageError` prints `PROGRAM: message` and a `--help` hint to stderr
 * and exits 2; `--help` prints the usage and exits 0; a failed start exits 1; then the servers run
 * until a signal drains them. Under a service manager it says `READY=1` once listening, keeps
 * `STATUS=` and the watchdog fed, and `STOPPING=1` on the drain; SIGHUP hands the listening sockets
 * to a new process of the app and drains this one (docs/deploy.md). Sets `process.exitCode` and never rejects; any other error is printed
 * with its stack and exits 1.
 */
export function runCli<O extends BaseCliOptions, S extends RunningServers>(
  app: CliApp<O, S>,
  argv: string[] = process.argv.slice(2),
): Promise<void> {
  return main(app, argv).then(
    (code) => {
      if (code !== undefined) process.exitCode = code
    },
    (error: unknown) => {
      process.stderr.write(`${app.program}: ${(error as Error)?.stack ?? error}\n`)
      process.exitCode = 1
    },
  )
}

async function main<O extends BaseCliOptions, S extends RunningServers>(
  app: CliApp<O, S>,
  argv: string[],
): Promise<number | undefined> {
  const { program } = app
  let options: O
  try {
    options = app.parse(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`${program}: ${error.message}\nTry '${program} --help' for more information.\n`)
    return 2
  }
  if (options.help) {
    process.stdout.write(app.usage)
    return 0
  }

  // Read (and removed from the environment) before anything starts workers or children.
  const passed = listenFds()
  const ignored = (app.addressOptions ?? []).filter((flag) =>
    argv.some((arg) => arg === flag || arg.startsWith(`${flag}=`)),
  )
  if (passed.length > 0 && ignored.length > 0) {
    process.stderr.write(
      `${program}: serving on the ${passed.length} socket(s) passed by ${passed[0]!.origin === 'systemd' ? 'systemd' : 'the process this one replaces'}; ignoring ${ignored.join(', ')}\n`,
    )
  }
  let metrics: MetricsService | undefined
  if (options.metrics) {
    try {
      const retryFor = passed[0]?.origin === 'restart' ? options.drainTimeout + 5_000 : 0
      metrics = await startMetrics(options.metrics, { retryFor, say: (line) => say(`${program}: ${line}`) })
    } catch (error) {
      process.stderr.write(`${program}: --metrics: ${(error as Error).message}\n`)
      return 1
    }
  }
  let running: S
  try {
    running = await app.start(options)
  } catch (error) {
    process.stderr.write(`${program}: ${(error as Error).message}\n`)
    await metrics?.close()
    return 1
  }
  const fail = (what: string) => (error: unknown) => {
    process.stderr.write(`${program}: ${what}${(error as Error)?.stack ?? error}\n`)
    process.exit(1)
  }
  // Exit once the last line is written rather than when the last handle lets go: a socket still
  // flushing to a client that does not read could hold the process after the drain was declared over.
  const finish = (line: string) => process.stdout.write(`${line}\n`, () => process.exit(0))
  const stopped = (aborted: number) => {
    const line = app.stopped(running, aborted, options)
    if (typeof line === 'string') finish(line)
    else line.then(finish, fail(''))
  }
  // The listeners and the metrics endpoint: after a restart, the new process takes the port over.
  const stopAccepting = () => {
    running.stopAccepting()
    void metrics?.close()
  }
  const service = serviceControl(program)
  shutdownOnSignals(running.servers, {
    timeout: options.drainTimeout,
    onSignal(signal) {
      // Close the listeners before saying so, so that whoever reads the line can rely on it.
      stopAccepting()
      service.notifier.stopping(`draining after ${signal}`).catch(() => {})
      say(app.draining(running, signal, options))
    },
    onClosed: ({ aborted }) => stopped(aborted),
  })
  reloadOnSighup({
    program,
    servers: running.servers,
    names: running.fdNames ?? [],
    notifier: service.notifier,
    drainTimeout: options.drainTimeout,
    say,
    stopAccepting,
    done: stopped,
  })

  app.listening(running, options)
  if (metrics?.url) say(`${program}: metrics on ${metrics.url}`)
  service.ready(running.servers, `listening on ${running.servers.length} socket(s)`)

  running.serving.catch(fail('serve loop failed: '))
  return undefined
}
