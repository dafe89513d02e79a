import {
  integer,
  MAX_TIMER_MS,
  type MetricsAddress,
  metricsAddress,
  parseArgv,
  UsageError,
} from '@socketserver/app-cli'
import { DEFAULT_BURST, DEFAULT_RATE } from '@socketserver/transport-udp'
import {
  DEFAULT_DAYTIME_PORT,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_SNTP_PORT,
  DEFAULT_TIME_PORT,
} from './server.js'

export const PROGRAM = 'socketserver-time'

export interface CliOptions {
  help: boolean
  host: string
  timePort: number
  daytimePort: number
  sntpPort: number
  rate: number
  burst: number
  drainTimeout: number
  /** `--metrics HOST:PORT`: where Prometheus metrics are served. */
  metrics: MetricsAddress | undefined
}

export const USAGE = `Usage: ${PROGRAM} [options]

Time services over TCP and UDP: RFC 868 time (what rdate asks), RFC 867 daytime, and an
RFC 4330 SNTP server (UDP). UDP datagrams from well-known service ports (7, 13, 19, 37, 123)
are never answered, and each source address is rate-limited, so the server cannot be used to
loop with another server or to amplify floods.

Options:
  --host <address>        Address to listen on. Default: ${DEFAULT_HOST}
                          Keep loopback unless the UDP services must be reachable.
  --time-port <number>    RFC 868 time port, TCP and UDP; 0 picks a free port.
                          Default: ${DEFAULT_TIME_PORT}
  --daytime-port <number> RFC 867 daytime port, TCP and UDP; 0 picks a free port.
                          Default: ${DEFAULT_DAYTIME_PORT}
  --sntp-port <number>    SNTP port (UDP); 0 picks a free port. Default: ${DEFAULT_SNTP_PORT}
  --rate <number>         UDP datagrams answered per second per source address, on
                          average (token bucket shared by the UDP services). Default: ${DEFAULT_RATE}
  --burst <number>        UDP datagrams a source may send at once before --rate applies.
                          Default: ${DEFAULT_BURST}
  --drain-timeout <ms>    On SIGINT/SIGTERM, how long requests in flight may finish;
                          a second signal exits at once. Default: ${DEFAULT_DRAIN_TIMEOUT}
  --metrics <host:port>   Serve Prometheus metrics on http://HOST:PORT/metrics (IPv6 as
                          [::1]:9464; port 0 picks a free one). Default: off
  -h, --help              Print this help and exit.

Try it: rdate -p -o ${DEFAULT_TIME_PORT} ${DEFAULT_HOST}
        rdate -n -p -o ${DEFAULT_SNTP_PORT} ${DEFAULT_HOST}
        nc ${DEFAULT_HOST} ${DEFAULT_DAYTIME_PORT}
`

/** Parses the command line (without the node and script paths); throws `UsageError`. */
export function parseCliArgs(argv: string[]): CliOptions {
  const values = parseArgv(argv, {
    help: { type: 'boolean', short: 'h' },
    host: { type: 'string' },
    'time-port': { type: 'string' },
    'daytime-port': { type: 'string' },
    'sntp-port': { type: 'string' },
    rate: { type: 'string' },
    burst: { type: 'string' },
    'drain-timeout': { type: 'string' },
    metrics: { type: 'string' },
  })
  const host = values.host ?? DEFAULT_HOST
  if (host === '') throw new UsageError('--host must not be empty (use 0.0.0.0 or :: for every interface)')
  const rateRaw = values.rate
  const rate =
    rateRaw === undefined ? DEFAULT_RATE : /^\d+(\.\d+)?$/.test(rateRaw) ? Number(rateRaw) : Number.NaN
  if (!(rate > 0)) throw new UsageError(`--rate must be a positive number (got '${rateRaw}')`)
  const burst = integer('--burst', values.burst, DEFAULT_BURST, 1_000_000)
  if (burst < 1) throw new UsageError(`--burst must be at least 1 (got '${values.burst}')`)
  return {
    help: values.help === true,
    host,
    timePort: integer('--time-port', values['time-port'], DEFAULT_TIME_PORT, 65535),
    daytimePort: integer('--daytime-port', values['daytime-port'], DEFAULT_DAYTIME_PORT, 65535),
    sntpPort: integer('--sntp-port', values['sntp-port'], DEFAULT_SNTP_PORT, 65535),
    rate,
    burst,
    drainTimeout: integer('--drain-timeout', values['drain-timeout'], DEFAULT_DRAIN_TIMEOUT, MAX_TIMER_MS),
    metrics: metricsAddress(values.metrics),
  }
}
