import type { CloseStreamOptions } from './stream-close.js'

/** Where a datagram reply goes: an IP host and port, or a Unix socket path. */
export type ReplyTarget = { readonly port: number; readonly address: string } | { readonly path: string }

/** What a concurrency mode may ask of a stream transport (TCP, Unix stream). */
export interface StreamTransport {
  readonly socketType: 'stream'
  /** `'inet'` (IPv4/IPv6) or `'unix'`. */
  readonly addressKind: 'inet' | 'unix'
  /**
   * Accept connections without reading from them, so that a socket can move to another thread or
   * process with no byte read here. Read at bind: a mode calls it in its `serverBind()`, before the
   * transport's.
   */
  acceptPaused(): void
  /** How a request's socket is closed (core's lingering close), for a worker or child that closes it. */
  closeOptions(): Required<CloseStreamOptions>
}

/** What a concurrency mode may ask of a datagram transport (UDP, Unix datagram). */
export interface DatagramTransport<Request = unknown> {
  readonly socketType: 'dgram'
  /** `'inet'` (a reply names a port and address) or `'unix'` (a path). */
  readonly addressKind: 'inet' | 'unix'
  /** The datagram a request carries. */
  packetOf(request: Request): Buffer
  /** Sends `data` from the socket the request came in on, so the reply comes from the server's address. */
  sendReply(request: Request, data: Uint8Array, to: ReplyTarget): Promise<void>
}

/** A transport's declared capabilities: `BaseServer#transport`, implemented by each transport. */
export type Transport<Request = unknown> = StreamTransport | DatagramTransport<Request>

/** What a connection stage passes on: the request and client address (see `ConnectionStage`). */
export type Admission<Request = unknown, ClientAddress = unknown> = readonly [Request, ClientAddress]

/**
 * How a stage that waits for its connection answers without a promise: the server's own object,
 * shared by its connections, passed to `admit`. Call one of its methods once, after `admit` has
 * returned, with the request `admit` was given.
 */
export interface StageCallback<Request = unknown, ClientAddress = unknown> {
  /** Passes `next` (the same request or another, such as a `TLSSocket`) and `clientAddress` on. */
  admitted(request: Request, next: Request, clientAddress: ClientAddress): void
  /** Refuses the connection (`error`: a coded error), as a throw from `admit` would. */
  refused(request: Request, clientAddress: ClientAddress, error: unknown): void
}

/**
 * A step a stream connection takes between accept and the queue, such as reading a PROXY header or
 * completing a TLS handshake. A server lists its stages in `connectionStages()`; they run in order
 * on each connection, off the serve loop, so a slow client never holds the loop up.
 *
 * `admit` answers with the request and client address to pass on (a new socket, such as a
 * `TLSSocket`, or the client's real address), or throws or rejects with a coded error to refuse
 * the connection. A stage that can answer at once returns the pair itself (no promise, no
 * microtask); one that waits for the connection returns a promise of it, or `undefined` and
 * answers through `later` (no promise, no microtask: the PROXY header read, once per connection).
 * Each stage bounds its own time (`handshakeTimeout`, `headerTimeout`).
 */
export interface ConnectionStage<Request = unknown, ClientAddress = unknown> {
  /** Names the stage in refusals (`socketserver:connection:refused`, `refusedConnections`): `'proxy'`, `'tls'`. */
  readonly name: string
  admit(
    request: Request,
    clientAddress: ClientAddress,
    later: StageCallback<Request, ClientAddress>,
  ): Admission<Request, ClientAddress> | Promise<Admission<Request, ClientAddress>> | undefined
}
