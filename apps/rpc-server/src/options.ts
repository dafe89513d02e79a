import { choice, choiceList, integer, MAX_TIMER_MS, parseArgv, UsageError } from '@socketserver/app-cli'
import { KV_PROG, KV_VERS } from './kv-program.js'
import {
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_PORT,
  type ListenerSpec,
  type Registration,
  RPC_MODES,
  type RpcMode,
} from './server.js'

export const PROGRAM = 'socketserver-rpc'

export interface CliOptions {
  help: boolean
  host: string
  port: number
  listeners: ListenerSpec[] | undefined
  mode: RpcMode
  register: Registration
  idleTimeout: number
  drainTimeout: number
}

const REGISTER = {
  auto: { summary: 'register with rpcbind on 127.0.0.1:111 if it runs, else carry on' },
  yes: { summary: 'register, or fail to start' },
  no: { summary: 'do not register' },
}

export const USAGE = `Usage: ${PROGRAM} [options]

A key-value store over Sun RPC (ONC RPC v2): program KV_PROG (${KV_PROG}, 0x${KV_PROG.toString(16)})
version ${KV_VERS} from kv.x, with NULL, GET, PUT, DELETE and LIST, over TCP and UDP.

Options:
  --host <address>      Address of the TCP and UDP listeners used when no --listen is given.
                        Default: ${DEFAULT_HOST}
  --port <number>       Their port; 0 picks a free one. Default: ${DEFAULT_PORT}
  --listen <where>      Listen here instead; repeat for several: tcp:HOST:PORT  udp:HOST:PORT
                        (IPv6 as tcp:[::1]:${DEFAULT_PORT})
  --mode <name>         How calls are served. Default: event-loop
${choiceList(RPC_MODES)}
  --register <when>     rpcbind registration (unregistered on exit). Default: auto
${choiceList(REGISTER)}
  --idle-timeout <ms>   Close a TCP connection idle this long; 0 never. Default: ${DEFAULT_IDLE_TIMEOUT}
  --drain-timeout <ms>  On SIGINT/SIGTERM, how long calls in progress may finish. Default: ${DEFAULT_DRAIN_TIMEOUT}
  -h, --help            Print this help and exit.

Try it: rpcinfo -n ${DEFAULT_PORT} -t ${DEFAULT_HOST} ${KV_PROG} ${KV_VERS}
`

export function parseCliArgs(argv: string[]): CliOptions {
  const values = parseArgv(argv, {
    help: { type: 'boolean', short: 'h' },
    host: { type: 'string' },
    port: { type: 'string' },
    listen: { type: 'string', multiple: true },
    mode: { type: 'string' },
    register: { type: 'string' },
    'idle-timeout': { type: 'string' },
    'drain-timeout': { type: 'string' },
  })
  const host = values.host ?? DEFAULT_HOST
  if (host === '') throw new UsageError('--host must not be empty')
  const listen = values.listen ?? []
  return {
    help: values.help === true,
    host,
    port: integer('--port', values.port, DEFAULT_PORT, 65535),
    listeners: listen.length > 0 ? listen.map(parseListener) : undefined,
    mode: choice('--mode', values.mode, 'event-loop', RPC_MODES),
    register: choice('--register', values.register, 'auto', REGISTER),
    idleTimeout: integer('--idle-timeout', values['idle-timeout'], DEFAULT_IDLE_TIMEOUT, MAX_TIMER_MS),
    drainTimeout: integer('--drain-timeout', values['drain-timeout'], DEFAULT_DRAIN_TIMEOUT, MAX_TIMER_MS),
  }
}

export function parseListener(text: string): ListenerSpec {
  const match = /^(tcp|udp):(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(text)
  if (!match)
    throw new UsageError(`--listen ${text}: expected tcp:HOST:PORT or udp:HOST:PORT (IPv6 as tcp:[::1]:PORT)`)
  return {
    transport: match[1] as 'tcp' | 'udp',
    host: (match[2] ?? match[3])!,
    port: integer(`--listen ${text}: the port`, match[4], 0, 65535),
  }
}
