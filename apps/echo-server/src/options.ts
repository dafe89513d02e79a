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
import {
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_PORT,
  ECHO_MODES,
  type EchoMode,
  type ListenerSpec,
} from './server.js'

export const PROGRAM = 'socketserver-echo'

export interface CliOptions {
  help: boolean
  host: string
  port: number
  /** Every address to listen on: the `--listen` ones, or TCP on `host`:`port`. */
  listeners: ListenerSpec[]
  mode: EchoMode
  idleTimeout: number
  drainTimeout: number
  /** `--metrics HOST:PORT`: where Prometheus metrics are served. */
  metrics: MetricsAddress | undefined
  /** `--cert` and `--key`, read: the `tls:` listeners' certificate. */
  tls: TlsOptions | undefined
  /** `--proxy-protocol` / `--trusted-proxies`: the TCP and TLS listeners read a PROXY header. */
  proxyProtocol: boolean | { trustedProxies: string[] }
}

export const USAGE = `Usage: ${PROGRAM} [options]

RFC 862 echo server over TCP, UDP and Unix sockets: every byte a client sends comes straight back.

Options:
  --host <address>      Address of the TCP listener used when no --listen is given
                        (0.0.0.0 or :: for every interface). Default: ${DEFAULT_HOST}
  --port <number>       Its port; 0 picks any free port. Default: ${DEFAULT_PORT}
  --listen <where>      Listen here; repeat for several listeners in one process:
                          tcp:HOST:PORT  udp:HOST:PORT  (IPv6 as tcp:[::1]:7007)
                          tls:HOST:PORT  (TLS over TCP: needs --cert and --key)
                          unix:PATH  unix-dgram:PATH  (a leading @ is a Linux abstract name)
                        UDP echo never answers ports 7, 13, 19, 37, 123 and limits each
                        source to 100 datagrams/s (burst 200).
  --mode <name>         How connections are served. Default: event-loop
${choiceList(ECHO_MODES)}
  --idle-timeout <ms>   Close a connection that sends nothing for this long; 0 never.
                        Default: ${DEFAULT_IDLE_TIMEOUT}
  --drain-timeout <ms>  On SIGINT/SIGTERM, how long open connections may finish before
                        they are closed; a second signal exits at once. Default: ${DEFAULT_DRAIN_TIMEOUT}
  --metrics <host:port> Serve Prometheus metrics on http://HOST:PORT/metrics (IPv6 as
                        [::1]:9464; port 0 picks a free one). Default: off
${TLS_USAGE}
${PROXY_USAGE}
  -h, --help            Print this help and exit.

Try it: nc ${DEFAULT_HOST} ${DEFAULT_PORT}
`

/** Parses the command line (without the node and script paths); throws `UsageError`. */
export function parseCliArgs(argv: string[]): CliOptions {
  const values = parseArgv(argv, {
    help: { type: 'boolean', short: 'h' },
    host: { type: 'string' },
    port: { type: 'string' },
    listen: { type: 'string', multiple: true },
    mode: { type: 'string' },
    'idle-timeout': { type: 'string' },
    'drain-timeout': { type: 'string' },
    metrics: { type: 'string' },
    ...TLS_ARGS,
    ...PROXY_ARGS,
  })
  const mode: EchoMode = choice('--mode', values.mode, 'event-loop', ECHO_MODES)
  const host = values.host ?? DEFAULT_HOST
  if (host === '') throw new UsageError('--host must not be empty (use 0.0.0.0 or :: for every interface)')
  const port = integer('--port', values.port, DEFAULT_PORT, 65535)
  const listen = values.listen ?? []
  const listeners: ListenerSpec[] =
    listen.length > 0 ? listen.map(parseListener) : [{ transport: 'tcp', host, port }]
  const tls = tlsFiles(values, listeners.some((l) => l.transport === 'tls') ? 'tls: listeners' : undefined)
  return {
    help: values.help === true,
    host,
    port,
    listeners,
    mode,
    idleTimeout: integer('--idle-timeout', values['idle-timeout'], DEFAULT_IDLE_TIMEOUT, MAX_TIMER_MS),
    drainTimeout: integer('--drain-timeout', values['drain-timeout'], DEFAULT_DRAIN_TIMEOUT, MAX_TIMER_MS),
    metrics: metricsAddress(values.metrics),
    tls,
    proxyProtocol: proxyProtocolSetting(values),
  }
}

/** `tcp:HOST:PORT`, `tls:HOST:PORT`, `udp:HOST:PORT` (`[::1]` for IPv6), `unix:PATH`, `unix-dgram:PATH` (`@name`: abstract). */
export function parseListener(text: string): ListenerSpec {
  const colon = text.indexOf(':')
  const transport = text.slice(0, colon)
  const rest = text.slice(colon + 1)
  if (transport === 'unix' || transport === 'unix-dgram') {
    if (rest === '') throw new UsageError(`--listen ${text}: a path is needed after ${transport}:`)
    return { transport, path: rest.startsWith('@') ? `\0${rest.slice(1)}` : rest }
  }
  if (transport === 'tcp' || transport === 'tls' || transport === 'udp') {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(rest)
    if (!match)
      throw new UsageError(
        `--listen ${text}: expected ${transport}:HOST:PORT (IPv6 as ${transport}:[::1]:PORT)`,
      )
    const host = match[1] ?? match[2]!
    return { transport, host, port: integer(`--listen ${text}: the port`, match[3], 0, 65535) }
  }
  throw new UsageError(`--listen ${text}: expected tcp:, tls:, udp:, unix: or unix-dgram: first`)
}
