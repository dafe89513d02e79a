import { parseArgs } from 'node:util'
import { DEFAULT_LIMITS } from './handler.js'
import {
  CHAT_MODES,
  type ChatMode,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IRC_PORT,
  DEFAULT_PORT,
  isChatMode,
} from './server.js'

export const PROGRAM = 'socketserver-chat'

export interface CliOptions {
  help: boolean
  host: string
  port: number
  ircPort: number | null
  mode: ChatMode
  bus: string
  redisPrefix: string | undefined
  workers: number | undefined
  maxLineLength: number
  messageRate: number
  maxOutputBuffer: number
  idleTimeout: number | null
  drainTimeout: number
}

/** A bad command line: the CLI prints the message and a hint, and exits 2. */
export class UsageError extends Error {}

const MAX_TIMER_MS = 2 ** 31 - 1 // setTimeout's limit

const modeList = Object.entries(CHAT_MODES)
  .map(([name, { summary }]) => `      ${name.padEnd(12)}${summary}`)
  .join('\n')

export const USAGE = `Usage: ${PROGRAM} [options]

A multi-user chat: a line protocol for nc and telnet, and IRC for IRC clients, in the same rooms.

Options:
  --host <address>         Address to listen on. Default: ${DEFAULT_HOST}
  --port <number>          Line protocol port; 0 picks any free port. Default: ${DEFAULT_PORT}
  --irc-port <number|off>  IRC port; off serves no IRC. Default: ${DEFAULT_IRC_PORT}
  --mode <name>            How connections are served. Default: event-loop
${modeList}
  --bus <memory|redis://host:port>
                           Where the shared state lives; chat servers on one Redis are one chat.
                           Default: memory
  --redis-prefix <text>    Prefix of the chat's Redis keys and channel. Default: chat:
  --workers <n>            Threads or processes in the thread and fork modes. Default: one per core
  --max-line <bytes>       Longest line a client may send. Default: ${DEFAULT_LIMITS.maxLineLength}
  --rate <lines/s>         Lines a client may send per second (burst ${DEFAULT_LIMITS.messageBurst}). Default: ${DEFAULT_LIMITS.messageRate}
  --max-output <bytes>     Unread output after which a client is disconnected. Default: ${DEFAULT_LIMITS.maxOutputBuffer}
  --idle-timeout <ms>      Ask a silent client whether it is there after this long, disconnect
                           after as long again; 0 never. Default: ${DEFAULT_LIMITS.idleTimeout}
  --drain-timeout <ms>     On SIGINT/SIGTERM, how long to wait for connections to close; a second
                           signal exits at once. Default: ${DEFAULT_DRAIN_TIMEOUT}
  -h, --help               Print this help and exit.

Try it: nc ${DEFAULT_HOST} ${DEFAULT_PORT}    (or point an IRC client at ${DEFAULT_HOST}/${DEFAULT_IRC_PORT})
`

/** Parses the command line (without the node and script paths); throws `UsageError`. */
export function parseCliArgs(argv: string[]): CliOptions {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        host: { type: 'string' },
        port: { type: 'string' },
        'irc-port': { type: 'string' },
        mode: { type: 'string' },
        bus: { type: 'string' },
        'redis-prefix': { type: 'string' },
        workers: { type: 'string' },
        'max-line': { type: 'string' },
        rate: { type: 'string' },
        'max-output': { type: 'string' },
        'idle-timeout': { type: 'string' },
        'drain-timeout': { type: 'string' },
      },
    }))
  } catch (error) {
    // parseArgs explains in several sentences; the first one says what is wrong.
    throw new UsageError((error as Error).message.split(/\.\s/)[0]!.replace(/\s+/g, ' '))
  }
  const mode = (values.mode as string | undefined) ?? 'event-loop'
  if (!isChatMode(mode))
    throw new UsageError(`--mode must be one of ${Object.keys(CHAT_MODES).join(', ')} (got '${mode}')`)
  const bus = (values.bus as string | undefined) ?? 'memory'
  if (bus !== 'memory' && !/^rediss?:\/\//.test(bus))
    throw new UsageError(`--bus must be memory or redis://host:port (got '${bus}')`)
  const idleTimeout = integer(
    '--idle-timeout',
    values['idle-timeout'],
    DEFAULT_LIMITS.idleTimeout!,
    MAX_TIMER_MS,
  )
  return {
    help: values.help === true,
    host: (values.host as string | undefined) || DEFAULT_HOST,
    port: integer('--port', values.port, DEFAULT_PORT, 65535),
    ircPort:
      values['irc-port'] === 'off'
        ? null
        : integer('--irc-port', values['irc-port'], DEFAULT_IRC_PORT, 65535),
    mode,
    bus,
    redisPrefix: values['redis-prefix'] as string | undefined,
    workers: values.workers === undefined ? undefined : integer('--workers', values.workers, 1, 256, 1),
    maxLineLength: integer('--max-line', values['max-line'], DEFAULT_LIMITS.maxLineLength, 1 << 24, 16),
    messageRate: integer('--rate', values.rate, DEFAULT_LIMITS.messageRate, 1_000_000, 1),
    maxOutputBuffer: integer(
      '--max-output',
      values['max-output'],
      DEFAULT_LIMITS.maxOutputBuffer,
      1 << 30,
      1024,
    ),
    idleTimeout: idleTimeout === 0 ? null : idleTimeout,
    drainTimeout: integer('--drain-timeout', values['drain-timeout'], DEFAULT_DRAIN_TIMEOUT, MAX_TIMER_MS),
  }
}

function integer(name: string, raw: unknown, fallback: number, max: number, min = 0): number {
  if (raw === undefined) return fallback
  const value = /^\d+$/.test(String(raw)) ? Number(raw) : Number.NaN
  if (!(value >= min && value <= max))
    throw new UsageError(`${name} must be an integer from ${min} to ${max} (got '${raw}')`)
  return value
}
