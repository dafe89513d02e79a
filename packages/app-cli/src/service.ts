import {
  type BaseServer,
  type DescriptorKind,
  describeDescriptor,
  type InheritedSocket,
  listenFds,
  restartProcess,
  ServiceNotifier,
} from '@socketserver/core'
import { sendNotification } from '@socketserver/transport-unix'

/** The transports the demo apps listen on, as `--listen` names them. */
export type ListenTransport = 'tcp' | 'udp' | 'unix' | 'unix-dgram'

/** A socket passed to the app by systemd (or by the process it replaces), ready for a server's `inherited` option. */
export interface InheritedListener {
  readonly inherited: InheritedSocket
  /** Its `FileDescriptorName=`, `''` if it has none. */
  readonly name: string
  /** Which server class it needs, from its type and family. */
  readonly transport: ListenTransport
  /** Where the socket is, as a constructor placeholder: `{ host, port: 0 }` of its family, or its path. */
  readonly address: { host: string; port: number } | string
  readonly kind: DescriptorKind
}

/**
 * The sockets passed to this process, each with the transport it needs; empty when it was started
 * normally. Socket activation needs no flag: the apps serve on these when there are any.
 */
export function inheritedListeners(): InheritedListener[] {
  return listenFds().map(({ fd, name, path }) => {
    const kind = describeDescriptor(fd)
    const unix = kind.family === 'Unix'
    const transport: ListenTransport = unix
      ? kind.type === 'dgram'
        ? 'unix-dgram'
        : 'unix'
      : kind.type === 'dgram'
        ? 'udp'
        : 'tcp'
    const address = unix
      ? path || kind.path || '/'
      : { host: kind.family === 'IPv6' ? '::' : '0.0.0.0', port: 0 }
    return { inherited: { fd }, name, transport, address, kind }
  })
}

/** What `runCli` does for the service manager: readiness, status, watchdog, and restart on SIGHUP. */
export interface ServiceControl {
  readonly notifier: ServiceNotifier
  /** `READY=1` once listening, then status and watchdog for `servers`. */
  ready(servers: ReadonlyArray<BaseServer<any, any, any>>, status: string): void
}

/** The notifier, sending through the Unix datagram transport (Node's dgram cannot reach `NOTIFY_SOCKET`). */
export function serviceControl(program: string): ServiceControl {
  const notifier = new ServiceNotifier({ send: sendNotification })
  const warn = (error: unknown) => process.stderr.write(`${program}: ${(error as Error)?.message ?? error}\n`)
  return {
    notifier,
    ready(servers, status) {
      notifier.ready(status).catch(warn)
      notifier.watch(servers)
    },
  }
}

export interface ReloadOptions {
  program: string
  servers: ReadonlyArray<BaseServer<any, any, any>>
  /** `LISTEN_FDNAMES` for the new process, one per server. */
  names: readonly string[]
  notifier: ServiceNotifier
  drainTimeout: number
  /** Lines to print as the restart goes. */
  say(line: string): void
  /** Closes the listeners (once the new process serves). */
  stopAccepting(): void
  /** Once the drain is over: the last line, then exit. */
  done(aborted: number): void
}

/**
 * On SIGHUP, hands the listening sockets to a new process of this program (`restartProcess()`);
 * once it is ready, stops accepting here, drains and calls `done`. A failed restart is printed and
 * this process serves on. Returns a function that removes the handler.
 */
export function reloadOnSighup(options: ReloadOptions): () => void {
  let restarting = false
  const handler = () => {
    if (restarting) return
    restarting = true
    options.say(`${options.program}: SIGHUP: starting a new process with the listening sockets`)
    restartProcess(
      options.servers.map((server, i) => ({ server, name: options.names[i] ?? '' })),
      {
        drainTimeout: options.drainTimeout,
        notifier: options.notifier,
        onReady(pid) {
          options.stopAccepting()
          options.say(`${options.program}: process ${pid} serves now; stopped accepting, draining`)
        },
      },
    ).then(
      ({ aborted }) => options.done(aborted),
      (error: unknown) => {
        restarting = false
        process.stderr.write(
          `${options.program}: restart failed, serving on: ${(error as Error)?.message ?? error}\n`,
        )
      },
    )
  }
  process.on('SIGHUP', handler)
  return () => process.off('SIGHUP', handler)
}
