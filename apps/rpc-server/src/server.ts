import { type BaseServer, formatAddress, type InetAddress } from '@socketserver/core'
import {
  type RpcbindRegistration,
  type RpcProgram,
  rpcbindRegister,
  rpcDatagramHandler,
  rpcStreamHandler,
} from '@socketserver/sunrpc'
import { EventLoopTCPServer, TCPServer } from '@socketserver/transport-tcp'
import { EventLoopUDPServer, UDPServer } from '@socketserver/transport-udp'
import { createKvProgram, KV_VERS, KvStore } from './kv-program.js'

export const DEFAULT_HOST = '127.0.0.1'
/** One port for both transports, as rpcbind-registered services usually do. */
export const DEFAULT_PORT = 7111
export const DEFAULT_IDLE_TIMEOUT = 300_000
export const DEFAULT_DRAIN_TIMEOUT = 10_000
/** Largest call record over TCP, in bytes: the largest PUT (4 KiB value, 255-byte key) with room to spare. */
export const MAX_RECORD_SIZE = 64 * 1024

type ServerClass = {
  create(address: any, Handler: any, options?: any): Promise<BaseServer<any, any, any>>
}

/**
 * How calls are served. The store lives in this process, so the modes that run handlers in other
 * threads or processes (which @socketserver/sunrpc supports) are not offered here: each worker
 * would hold a store of its own.
 */
export const RPC_MODES = {
  'event-loop': {
    summary: "many connections at once on Node's event loop (recommended)",
    tcp: EventLoopTCPServer,
    udp: EventLoopUDPServer,
  },
  sequential: {
    summary: "one connection or datagram at a time, in arrival order, like Python's servers",
    tcp: TCPServer,
    udp: UDPServer,
  },
} satisfies Record<string, { summary: string; tcp: ServerClass; udp: ServerClass }>

export type RpcMode = keyof typeof RPC_MODES
export type Transport = 'tcp' | 'udp'
export type Registration = 'auto' | 'yes' | 'no'

export interface ListenerSpec {
  transport: Transport
  host: string
  port: number
}

export interface RpcListener {
  transport: Transport
  server: BaseServer<any, any, any>
  address: InetAddress
  /** `tcp 127.0.0.1:7111` */
  label: string
}

export interface RpcServerOptions {
  /** Default: TCP and UDP on `host`:`port`. */
  listeners?: ListenerSpec[]
  /** Default: `'127.0.0.1'`. */
  host?: string
  /** 0 picks a free port (TCP's; UDP then takes the same number when it is free). Default: `7111`. */
  port?: number
  /** Default: `'event-loop'`. */
  mode?: RpcMode
  /** Close a TCP connection idle this long, in ms; `0`/`null` never. Default: `300000`. */
  idleTimeout?: number | null
  /**
   * Register with rpcbind on 127.0.0.1:111 (`PMAPPROC_SET`), unregistering on close: `'auto'` tries
   * and carries on without it (`registrationError` says why), `'yes'` fails the start, `'no'` skips it.
   * Default: `'auto'`.
   */
  register?: Registration
  /** rpcbind's port (tests). Default: `111`. */
  rpcbindPort?: number
  pollInterval?: number
}

export interface RpcServer {
  readonly mode: RpcMode
  readonly program: RpcProgram
  readonly store: KvStore
  readonly listeners: readonly RpcListener[]
  readonly servers: readonly BaseServer<any, any, any>[]
  readonly serving: Promise<void>
  /** The rpcbind registration, when made. */
  readonly registration: RpcbindRegistration | undefined
  /** Why registration was skipped (`register: 'auto'`). */
  readonly registrationError: Error | undefined
  stopAccepting(): void
  /** Removes the rpcbind registration (once; `stopAccepting()` starts it, close awaits it). */
  unregister(): Promise<void>
  shutdownGracefully(options?: { timeout?: number }): Promise<{ aborted: number }>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Binds every listener, registers with rpcbind, and serves KV_PROG until closed. */
export async function startRpcServer(options: RpcServerOptions = {}): Promise<RpcServer> {
  const {
    host = DEFAULT_HOST,
    port = DEFAULT_PORT,
    mode = 'event-loop',
    idleTimeout = DEFAULT_IDLE_TIMEOUT,
    register = 'auto',
    rpcbindPort,
    pollInterval,
  } = options
  if (!Object.hasOwn(RPC_MODES, mode)) throw new TypeError(`unknown mode ${JSON.stringify(mode)}`)
  const store = new KvStore()
  const program = createKvProgram(store)
  const Stream = rpcStreamHandler(program, {
    maxRecordSize: MAX_RECORD_SIZE,
    idleTimeout: idleTimeout === 0 ? null : idleTimeout,
  })
  const Datagram = rpcDatagramHandler(program)
  const listeners: RpcListener[] = []
  let registration: RpcbindRegistration | undefined
  let registrationError: Error | undefined
  try {
    const specs = options.listeners ?? [
      { transport: 'tcp', host, port },
      { transport: 'udp', host, port },
    ]
    for (const spec of specs) {
      // Port 0 for both: UDP follows the port TCP got, so one number serves both (rpcinfo -n PORT).
      const tcp = listeners.find((l) => l.transport === 'tcp' && l.address.address === spec.host)
      const wanted =
        spec.port === 0 && spec.transport === 'udp' && tcp && !options.listeners
          ? tcp.address.port
          : spec.port
      const Server: ServerClass = RPC_MODES[mode][spec.transport]
      const server = await Server.create(
        { host: spec.host, port: wanted },
        spec.transport === 'tcp' ? Stream : Datagram,
        spec.transport === 'udp' ? { maxPacketSize: 65_535 } : {},
      )
      const address = server.serverAddress as InetAddress
      listeners.push({
        transport: spec.transport,
        server,
        address,
        label: `${spec.transport} ${formatAddress(address)}`,
      })
    }
    if (register !== 'no') {
      try {
        registration = await rpcbindRegister(
          listeners.map((l) => ({
            prog: program.number,
            vers: KV_VERS,
            protocol: l.transport,
            port: l.address.port,
          })),
          rpcbindPort === undefined ? {} : { port: rpcbindPort },
        )
      } catch (error) {
        if (register === 'yes') throw error
        registrationError = error as Error
      }
    }
  } catch (error) {
    await Promise.all(listeners.map(({ server }) => server.serverClose()))
    throw error
  }
  const servers = listeners.map((l) => l.server)
  const serving = Promise.all(servers.map((server) => server.serveForever({ pollInterval }))).then(() => {})
  serving.catch(() => {})
  let unregistered: Promise<void> | undefined
  const unregister = () =>
    (unregistered ??= registration ? registration.unregister().catch(() => {}) : Promise.resolve())
  const shutdownGracefully = async ({ timeout = DEFAULT_DRAIN_TIMEOUT } = {}) => {
    await unregister()
    const results = await Promise.all(servers.map((server) => server.shutdownGracefully({ timeout })))
    await serving.catch(() => {})
    return { aborted: results.reduce((sum, r) => sum + r.aborted, 0) }
  }
  const close = async () => {
    await shutdownGracefully({ timeout: 0 })
  }
  return {
    mode,
    program,
    store,
    listeners,
    servers,
    serving,
    registration,
    registrationError,
    stopAccepting() {
      void unregister()
      for (const server of servers) server.serverClose().catch(() => {})
    },
    unregister,
    shutdownGracefully,
    close,
    [Symbol.asyncDispose]: close,
  }
}
