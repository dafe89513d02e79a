import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type tls from 'node:tls'
import { messageClient } from './client.js'
import { connectDatagram } from './datagram.js'
import { connectStream, connectTLS } from './stream.js'
import type { ServerClass, ServerComplianceSetup } from './types.js'

/** The transport's part of a setup: addresses, clients, and how to see the listening socket. */
export type TransportSetup = Pick<
  ServerComplianceSetup<any>,
  'socketType' | 'address' | 'addressInUse' | 'invalidAddresses' | 'connect' | 'isListening' | 'socketAddress'
>

/** What these setups read of a server: its address and its socket (a `net.Server` or `dgram.Socket`). */
interface InetServer {
  serverAddress: { address: string; port: number }
  socket?: { address(): unknown; listening?: boolean }
}

/** The OS's address for the bound socket, as `{ address, port, family }`. */
const boundAddress = (server: InetServer) => {
  const { address, port, family } = server.socket!.address() as AddressInfo
  return { address, port, family }
}

/** Whether a `dgram` socket is open (its `address()` throws once closed). */
const dgramOpen = (server: InetServer) => {
  try {
    return server.socket?.address() !== undefined
  } catch {
    return false
  }
}

/** A TCP server (`TCPServer` or one mixing it in) on `host` (`127.0.0.1` or `::1`), port 0. */
export function tcpSetup(host: string): TransportSetup {
  return {
    socketType: 'stream',
    address: () => ({ host, port: 0 }),
    addressInUse: (server: InetServer) => ({ host, port: server.serverAddress.port }),
    invalidAddresses: [{ host, port: -1 }],
    connect: (server: InetServer) => connectStream({ host, port: server.serverAddress.port }),
    isListening: (server: InetServer) => server.socket?.listening === true,
    socketAddress: boundAddress,
  }
}

/**
 * A TLS server (`TLSServer` or one mixing it in, made with a certificate for `host`) on `host`,
 * port 0; its clients connect with `tls.connect`, trusting `client.ca`.
 */
export function tlsSetup(host: string, client: tls.ConnectionOptions): TransportSetup {
  return {
    ...tcpSetup(host),
    connect: (server: InetServer) => connectTLS({ ...client, host, port: server.serverAddress.port }),
  }
}

/** A UDP server (`UDPServer` or one mixing it in) on `host` (`127.0.0.1` or `::1`), port 0. */
export function udpSetup(host: string): TransportSetup {
  return {
    socketType: 'dgram',
    address: () => ({ host, port: 0 }),
    addressInUse: (server: InetServer) => ({ host, port: server.serverAddress.port }),
    invalidAddresses: [{ host, port: -1 }],
    connect: (server: InetServer) => connectDatagram({ host, port: server.serverAddress.port }),
    isListening: dgramOpen,
    socketAddress: boundAddress,
  }
}

/** A Unix stream server on the paths (or `\0` abstract names) `address()` gives. */
export function unixStreamSetup(address: () => string): TransportSetup {
  return {
    socketType: 'stream',
    address,
    addressInUse: (server: { serverAddress: string }) => server.serverAddress,
    invalidAddresses: ['', 'a\0b'],
    connect: (server: { serverAddress: string }) => connectStream({ path: server.serverAddress }),
    isListening: (server: { socket?: { listening: boolean } }) => server.socket?.listening === true,
  }
}

/** The Unix datagram socket class of `@socketserver/transport-unix` (passed in: no dependency on it). */
export interface UnixDatagramSocketClass {
  open(
    onMessage: (packet: Buffer) => void,
    onError: (error: Error) => void,
  ): Promise<{ bind(path: string): void; send(data: Buffer, path: string): Promise<void>; close(): void }>
}

/**
 * A Unix datagram server on the paths `address()` gives; each client binds a socket of class
 * `Socket` to a path `clientPath()` gives (as CPython's test binds one, so the server can reply).
 */
export function unixDatagramSetup(
  address: () => string,
  Socket: UnixDatagramSocketClass,
  clientPath: () => string,
): TransportSetup {
  return {
    socketType: 'dgram',
    address,
    addressInUse: (server: { serverAddress: string }) => server.serverAddress,
    invalidAddresses: ['', 'a\0b'],
    connect: (server: { serverAddress: string }) =>
      messageClient(async (deliver) => {
        const socket = await Socket.open(deliver, () => {})
        socket.bind(clientPath())
        return { send: (data) => socket.send(data, server.serverAddress), close: () => socket.close() }
      }),
    isListening: (server: { socket?: { closed: boolean } }) =>
      server.socket !== undefined && !server.socket.closed,
  }
}

/** Temporary socket paths and Linux abstract names; `cleanup()` removes the paths' directories. */
export class SocketPaths {
  readonly #prefix: string
  readonly #dirs: string[] = []
  #count = 0

  constructor(prefix = 'socksrv-') {
    this.#prefix = prefix
  }

  /** A path in a new temporary directory. */
  path(name = 's.sock'): string {
    const dir = mkdtempSync(join(tmpdir(), this.#prefix))
    this.#dirs.push(dir)
    return join(dir, name)
  }

  /** An abstract name (`\0...`) no other test or run uses. */
  abstract(): string {
    return `\0${this.#prefix}${process.pid}-${++this.#count}-${Math.random().toString(36).slice(2, 8)}`
  }

  cleanup(): void {
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  }
}

/** One server class per transport, e.g. `ThreadingMixIn(TCPServer)`, ... */
export interface TransportServers {
  TCPServer: ServerClass
  UDPServer: ServerClass
  UnixStreamServer: ServerClass
  UnixDatagramServer: ServerClass
}

/**
 * Calls `register(Server, where, transport)` for every transport and kind of address: TCP and UDP
 * on `127.0.0.1` and `::1`, Unix stream on a path and (Linux) an abstract name, Unix datagram on a
 * path, its clients' sockets of class `UnixDatagramSocket`. Paths come from `paths`.
 */
export function forEachTransport(
  servers: TransportServers,
  UnixDatagramSocket: UnixDatagramSocketClass,
  paths: SocketPaths,
  register: (Server: ServerClass, where: string, transport: TransportSetup) => void,
): void {
  for (const host of ['127.0.0.1', '::1']) {
    register(servers.TCPServer, host, tcpSetup(host))
    register(servers.UDPServer, host, udpSetup(host))
  }
  register(
    servers.UnixStreamServer,
    'a path',
    unixStreamSetup(() => paths.path()),
  )
  if (process.platform === 'linux')
    register(
      servers.UnixStreamServer,
      'an abstract name',
      unixStreamSetup(() => paths.abstract()),
    )
  register(
    servers.UnixDatagramServer,
    'a path',
    unixDatagramSetup(
      () => paths.path(),
      UnixDatagramSocket,
      () => paths.path('client.sock'),
    ),
  )
}
