import type { TlsOptions } from 'node:tls'
import {
  choice,
  choiceList,
  integer,
  MAX_TIMER_MS,
  type MetricsAddress,
  metricsAddress,
  PROXY_ARGS,
  PROXY_USAGE,
  parseArgv,
  proxyProtocolSetting,
  TLS_ARGS,
  TLS_USAGE,
  tlsFiles,
  UsageError,
} from '@socketserver/app-cli'
import { DEFAULT_LIMITS } from './handler.js'
import {
  CHAT_MODES,
  type ChatMode,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IRC_PORT,
  DEFAULT_PORT,
  IRC_TLS_PORT,
} from './server.js'

export const PROGRAM = 'socketserver-chat'

export interface CliOptions {
  help: boolean
  host: string
  port: number
  ircPort: number | null
  tlsPort: number | null
  ircTlsPort: number | null
  /** `--cert` and `--key`, read. */
  tls: TlsOptions | undefined
  mode: ChatMode
  bus: string
  redisPrefix: string | undefined
  workers: number | undefined
  maxLineLength: number
  messageRate: number
  maxOutputBuffer: number
  idleTimeout: number | null
  drainTimeout: number
  /** `--metrics HOST:PORT`: where Prometheus metrics are served. */
  metrics: MetricsAddress | undefined
  proxyProtocol: boolean | { trustedProxies: string[] }
}

export const USAGE = `Usage: ${PROGRAM} [options]

A multi-user chat: a line protocol for nc and telnet, and IRC for IRC clients, in the same rooms.

Options:
  --host <address>         Address to listen on. Default: ${DEFAULT_HOST}
  --port <number>          Line protocol port; 0 picks any free port. Default: ${DEFAULT_PORT}
  --irc-port <number|off>  IRC port; off serves no IRC. Default: ${DEFAULT_IRC_PORT}
  --tls-port <number|off>  Line protocol over TLS (needs --cert and --key). Default: off
  --irc-tls-port <number|off>
                           IRC over TLS, customarily ${IRC_TLS_PORT} (needs --cert and --key). Default: off
${TLS_USAGE}
  --mode <name>            How connections are served. Default: event-loop
${choiceList(CHAT_MODES)}
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
  --metrics <host:port>    Serve Prometheus metrics on http://HOST:PORT/metrics (IPv6 as
                           [::1]:9464; port 0 picks a free one). Default: off
${PROXY_USAGE}
  -h, --help               Print this help and exit.

Try it: nc ${DEFAULT_HOST} ${DEFAULT_PORT}    (or point an IRC client at ${DEFAULT_HOST}/${DEFAULT_IRC_PORT})
`

/** Parses the command line (without the node and script paths); throws `UsageError`. */
export function parseCliArgs(argv: string[]): CliOptions {
  const values = parseArgv(argv, {
    help: { type: 'boolean', short: 'h' },
    host: { type: 'string' },
    port: { type: 'string' },
    'irc-port': { type: 'string' },
    'tls-port': { type: 'string' },
    'irc-tls-port': { type: 'string' },
    ...TLS_ARGS,
    mode: { type: 'string' },
    bus: { type: 'string' },
    'redis-prefix': { type: 'string' },
    workers: { type: 'string' },
    'max-line': { type: 'string' },
    rate: { type: 'string' },
    'max-output': { type: 'string' },
    'idle-timeout': { type: 'string' },
    'drain-timeout': { type: 'string' },
    metrics: { type: 'string' },
    ...PROXY_ARGS,
  })
  const mode: ChatMode = choice('--mode', values.mode, 'event-loop', CHAT_MODES)
  const bus = values.bus ?? 'memory'
  if (bus !== 'memory' && !/^rediss?:\/\//.test(bus))
    throw new UsageError(`--bus must be memory or redis://host:port (got '${bus}')`)
  const idleTimeout = integer(
    '--idle-timeout',
    values['idle-timeout'],
    DEFAULT_LIMITS.idleTimeout!,
    MAX_TIMER_MS,
  )
  const offOr = (name: string, raw: string | undefined) =>
    raw === undefined || raw === 'off' ? null : integer(name, raw, 0, 65535)
  const tlsPort = offOr('--tls-port', values['tls-port'])
  const ircTlsPort = offOr('--irc-tls-port', values['irc-tls-port'])
  const tls = tlsFiles(values, tlsPort !== null || ircTlsPort !== null ? 'TLS listeners' : undefined)
  return {
    help: values.help === true,
    host: values.host || DEFAULT_HOST,
    port: integer('--port', values.port, DEFAULT_PORT, 65535),
    ircPort:
      values['irc-port'] === 'off'
        ? null
        : integer('--irc-port', values['irc-port'], DEFAULT_IRC_PORT, 65535),
    tlsPort,
    ircTlsPort,
    tls,
    mode,
    bus,
    redisPrefix: values['redis-prefix'],
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
    metrics: metricsAddress(values.metrics),
    proxyProtocol: proxyProtocolSetting(values),
  }
}
