/**
 * Every error this project throws on purpose is a `SocketServerError` with a stable string `code`.
 * The table of codes (code, cause, fix) lives in `docs/errors.md`; keep the two in step.
 */
export type ErrorCode =
  | 'SOCKSRV_INVALID_ARGUMENT'
  | 'SOCKSRV_BIND_FAILED'
  | 'SOCKSRV_REUSE_PORT_UNSUPPORTED'
  | 'SOCKSRV_ALREADY_SERVING'
  | 'SOCKSRV_SERVER_CLOSED'
  | 'SOCKSRV_QUEUE_FULL'
  | 'SOCKSRV_TIMEOUT'
  | 'SOCKSRV_CONNECTION_CLOSED'
  | 'SOCKSRV_LINE_TOO_LONG'
  | 'SOCKSRV_FRAME_TOO_LARGE'
  | 'SOCKSRV_READ_LIMIT'
  | 'SOCKSRV_PATH_TOO_LONG'
  | 'SOCKSRV_NOT_A_SOCKET'
  | 'SOCKSRV_REMOTE_HANDLER_ERROR'
  | 'SOCKSRV_WORKER_EXITED'
  | 'SOCKSRV_HANDLER_TIMEOUT'
  | 'SOCKSRV_HANDLER_MODULE'
  | 'SOCKSRV_DATAGRAM_TOO_LARGE'
  | 'SOCKSRV_ACCESS_DENIED'
  | 'SOCKSRV_NO_REQUEST'
  | 'SOCKSRV_INVALID_STATE'
  | 'SOCKSRV_NATIVE_MODULE'
  // @socketserver/sunrpc
  | 'SOCKSRV_XDR_DECODE'
  | 'SOCKSRV_XDR_ENCODE'
  | 'SOCKSRV_RPC_RECORD_TOO_LARGE'
  | 'SOCKSRV_RPC_PROTOCOL'
  | 'SOCKSRV_RPC_AUTH'
  | 'SOCKSRV_RPCBIND'
  | 'SOCKSRV_RPC_CALL'
  // socket activation and service manager
  | 'SOCKSRV_INHERITED_SOCKET'
  | 'SOCKSRV_INHERITED_SOCKET_MISMATCH'
  | 'SOCKSRV_INHERITED_SOCKET_UNSUPPORTED'
  | 'SOCKSRV_SERVICE_NOTIFY'
  | 'SOCKSRV_RESTART_FAILED'
  // @socketserver/transport-tls
  | 'SOCKSRV_TLS_HANDSHAKE'
  | 'SOCKSRV_TLS_HANDSHAKE_TIMEOUT'
  | 'SOCKSRV_TLS_UNAUTHORIZED'
  // PROXY protocol
  | 'SOCKSRV_PROXY_HEADER'
  | 'SOCKSRV_PROXY_TIMEOUT'
  | 'SOCKSRV_PROXY_UNTRUSTED'
  | 'SOCKSRV_PROXY_CHECKSUM'

export class SocketServerError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** A constructor argument or option is out of range or of the wrong kind. */
export class InvalidArgumentError extends SocketServerError {
  constructor(message: string) {
    super('SOCKSRV_INVALID_ARGUMENT', message)
  }
}

/** Binding or listening failed; `cause` is the system error and `errno` its code (e.g. `EADDRINUSE`). */
export class BindError extends SocketServerError {
  readonly errno: string | undefined
  readonly address: unknown
  constructor(address: unknown, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code
    super(
      'SOCKSRV_BIND_FAILED',
      `cannot bind ${formatAddress(address)}: ${(cause as Error)?.message ?? cause}`,
      {
        cause,
      },
    )
    this.errno = errno
    this.address = address
  }
}

/** `allowReusePort` was asked for on a runtime or platform that cannot honour it. */
export class ReusePortUnsupportedError extends SocketServerError {
  constructor(detail: string) {
    super('SOCKSRV_REUSE_PORT_UNSUPPORTED', `allowReusePort is not supported here: ${detail}`)
  }
}

/** `serveForever()` or `handleRequest()` was called while the server is already serving. */
export class AlreadyServingError extends SocketServerError {
  constructor() {
    super('SOCKSRV_ALREADY_SERVING', 'the server is already serving; call shutdown() first')
  }
}

/** `getRequest()` was called with no request waiting (the serve loop skips such a turn, as Python skips a failed accept). */
export class NoRequestError extends SocketServerError {
  constructor() {
    super('SOCKSRV_NO_REQUEST', 'getRequest() found no request waiting')
  }
}

/** An object was used out of turn: a second read while one is waiting, a reply after it was sent, a pool used before it started or after it closed. */
export class InvalidStateError extends SocketServerError {
  constructor(message: string) {
    super('SOCKSRV_INVALID_STATE', message)
  }
}

/** The server was closed with `serverClose()`; it cannot serve or bind again. */
export class ServerClosedError extends SocketServerError {
  constructor() {
    super('SOCKSRV_SERVER_CLOSED', 'the server is closed')
  }
}

/** A request was dropped because `maxQueuedRequests` requests were already waiting. */
export class QueueFullError extends SocketServerError {
  constructor(limit: number) {
    super('SOCKSRV_QUEUE_FULL', `request dropped: ${limit} requests already waiting (maxQueuedRequests)`)
  }
}

/** Which deadline expired: one read, one write, the connection's idle time, or the whole request. */
export type TimeoutOperation = 'read' | 'write' | 'idle' | 'request'

/**
 * A read or write waited longer than the handler's `timeout`, or a connection passed its
 * `idleTimeout` (nothing sent or received) or its `requestTimeout` (the whole request).
 */
export class SocketTimeoutError extends SocketServerError {
  /** Which deadline expired. */
  readonly operation: TimeoutOperation
  /** The deadline, in ms. */
  readonly ms: number
  constructor(operation: TimeoutOperation, ms: number) {
    super('SOCKSRV_TIMEOUT', `${operation} timed out after ${ms} ms`)
    this.operation = operation
    this.ms = ms
  }
}

/** Writing to a connection that is closed or was reset by the peer. */
export class ConnectionClosedError extends SocketServerError {
  constructor(cause?: unknown) {
    super(
      'SOCKSRV_CONNECTION_CLOSED',
      'the connection is closed',
      cause === undefined ? undefined : { cause },
    )
  }
}

/** A line exceeded its maximum length before a newline arrived (Netty: TooLongFrameException). */
export class LineTooLongError extends SocketServerError {
  readonly limit: number
  constructor(limit: number) {
    super('SOCKSRV_LINE_TOO_LONG', `line longer than ${limit} bytes`)
    this.limit = limit
  }
}

/** A length-prefixed frame declared a size above `maxFrameSize`. */
export class FrameTooLargeError extends SocketServerError {
  readonly limit: number
  readonly declared: number
  constructor(declared: number, limit: number) {
    super('SOCKSRV_FRAME_TOO_LARGE', `frame of ${declared} bytes exceeds maxFrameSize ${limit}`)
    this.limit = limit
    this.declared = declared
  }
}

/** `read()` to end of stream would have buffered more than `maxReadSize` bytes. */
export class ReadLimitError extends SocketServerError {
  readonly limit: number
  constructor(limit: number) {
    super('SOCKSRV_READ_LIMIT', `more than ${limit} bytes before end of stream (maxReadSize)`)
    this.limit = limit
  }
}

/** A Unix socket path (or abstract name) does not fit in `sun_path`; raised before any system call. */
export class SocketPathTooLongError extends SocketServerError {
  readonly path: string
  readonly bytes: number
  readonly limit: number
  constructor(path: string, bytes: number, limit: number) {
    super(
      'SOCKSRV_PATH_TOO_LONG',
      `Unix socket path ${formatAddress(path)} is ${bytes} bytes; at most ${limit} fit in sun_path`,
    )
    this.path = path
    this.bytes = bytes
    this.limit = limit
  }
}

/** Something other than a socket exists at a Unix server's path; it is left untouched. */
export class NotASocketError extends SocketServerError {
  readonly path: string
  constructor(path: string, fileType: string) {
    super(
      'SOCKSRV_NOT_A_SOCKET',
      `${formatAddress(path)} exists and is a ${fileType}, not a socket; refusing to replace it`,
    )
    this.path = path
  }
}

/** What a handler error looks like after crossing a thread or process boundary. */
export interface SerializedError {
  name: string
  message: string
  stack?: string
  code?: unknown
}

/**
 * A handler threw in a worker thread or child process. `message` and `stack` are the original's
 * (the stack is the remote one); `remoteName` and `remoteCode` its class name and `code`.
 */
export class RemoteHandlerError extends SocketServerError {
  readonly remoteName: string
  readonly remoteCode: unknown
  constructor(error: SerializedError, where: string) {
    super('SOCKSRV_REMOTE_HANDLER_ERROR', error.message)
    this.remoteName = error.name
    this.remoteCode = error.code
    this.stack = `${error.stack ?? `${error.name}: ${error.message}`}\n    (in ${where})`
  }

  /** The plain, cloneable form of any thrown value, for postMessage or IPC. */
  static serialize(error: unknown): SerializedError {
    if (error instanceof Error) {
      return {
        name: error.name,
        message: error.message,
        stack: error.stack,
        code: (error as { code?: unknown }).code,
      }
    }
    return { name: 'Error', message: String(error) }
  }
}

/** A worker thread or child process exited while it was handling requests; they were closed. */
export class WorkerExitedError extends SocketServerError {
  readonly exitCode: number | null
  readonly signal: string | null
  constructor(where: string, exitCode: number | null, signal: string | null = null) {
    super(
      'SOCKSRV_WORKER_EXITED',
      `${where} exited (${signal ? `signal ${signal}` : `code ${exitCode}`}) while handling a request`,
    )
    this.exitCode = exitCode
    this.signal = signal
  }
}

/** A handler ran past its deadline in a worker or child, which was stopped. */
export class HandlerTimeoutError extends SocketServerError {
  constructor(where: string, ms: number) {
    super('SOCKSRV_HANDLER_TIMEOUT', `handler in ${where} ran longer than ${ms} ms and was stopped`)
  }
}

/** A worker thread or child process could not load the request handler class: the setup is wrong. */
export class HandlerModuleError extends SocketServerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SOCKSRV_HANDLER_MODULE', message, options)
  }
}

/**
 * A native library a feature needs could not be loaded: no prebuilt binary for this platform, or a
 * broken install (`cause` holds the loader's error). Only the feature that needs it is affected.
 */
export class NativeModuleError extends SocketServerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SOCKSRV_NATIVE_MODULE', message, options)
  }
}

/** A datagram reply would exceed the largest datagram allowed (`maxReplySize`); nothing of it was kept. */
export class DatagramTooLargeError extends SocketServerError {
  readonly size: number
  readonly limit: number
  constructor(size: number, limit: number) {
    super(
      'SOCKSRV_DATAGRAM_TOO_LARGE',
      `reply of ${size} bytes exceeds the ${limit}-byte datagram limit (maxReplySize)`,
    )
    this.size = size
    this.limit = limit
  }
}

export function formatAddress(address: unknown): string {
  if (typeof address === 'string') return JSON.stringify(address.replace(/^\0/, '@'))
  if (Array.isArray(address)) return formatAddress({ host: address[0], port: address[1] })
  if (address && typeof address === 'object') {
    const a = address as { host?: string; address?: string; port?: number }
    const host = a.host ?? a.address ?? '?'
    return host.includes(':') ? `[${host}]:${a.port}` : `${host}:${a.port}`
  }
  return String(address)
}

/**
 * A request refused by a server's `accessControl`: its address is in `deny` or not in `allow`
 * (`rule` says which list), or it already has `maxConnectionsPerAddress` requests open (`'limit'`).
 */
export class AccessDeniedError extends SocketServerError {
  readonly address: string
  readonly rule: 'deny' | 'allow' | 'limit'
  constructor(address: string, rule: 'deny' | 'allow' | 'limit', limit?: number) {
    const why =
      rule === 'limit'
        ? `it already has ${limit} requests open (maxConnectionsPerAddress)`
        : rule === 'deny'
          ? 'it is in the deny list'
          : 'it is not in the allow list'
    super('SOCKSRV_ACCESS_DENIED', `request from ${address || 'a Unix client'} refused: ${why}`)
    this.address = address
    this.rule = rule
  }
}

/**
 * A server was asked to adopt an inherited socket (`inherited`) that is not there: no passed
 * descriptor of that name, one already adopted by another server, or a bad `LISTEN_FDS`.
 */
export class InheritedSocketError extends SocketServerError {
  constructor(message: string) {
    super('SOCKSRV_INHERITED_SOCKET', message)
  }
}

/** An inherited descriptor is not the kind of socket the server needs (a UDP socket for a TCP server, ...). */
export class InheritedSocketMismatchError extends SocketServerError {
  readonly fd: number
  readonly expected: string
  readonly actual: string
  constructor(fd: number, expected: string, actual: string) {
    super('SOCKSRV_INHERITED_SOCKET_MISMATCH', `descriptor ${fd} is ${actual}; this server needs ${expected}`)
    this.fd = fd
    this.expected = expected
    this.actual = actual
  }
}

/** This server class cannot adopt a descriptor at all (the Unix datagram library opens its own socket). */
export class InheritedSocketUnsupportedError extends SocketServerError {
  constructor(message: string) {
    super('SOCKSRV_INHERITED_SOCKET_UNSUPPORTED', message)
  }
}

/** A message to the service manager (`NOTIFY_SOCKET`) could not be sent. */
export class ServiceNotifyError extends SocketServerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SOCKSRV_SERVICE_NOTIFY', message, options)
  }
}

/** `restartProcess()` could not hand over: the new process failed to start or signal ready in time. This one keeps serving. */
export class RestartError extends SocketServerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SOCKSRV_RESTART_FAILED', message, options)
  }
}

/** Why a PROXY protocol header was refused as malformed (`ProxyHeaderError#reason`). */
export type ProxyHeaderReason =
  /** Neither the v1 `PROXY ` prefix nor the v2 signature. */
  | 'signature'
  /** A version this server does not accept (`versions`), or a v2 version nibble other than 2. */
  | 'version'
  /** v1: not `PROXY <TCP4|TCP6|UNKNOWN> ...` with single spaces, printable text and CRLF. */
  | 'syntax'
  /** v2: a command other than LOCAL (0) or PROXY (1). */
  | 'command'
  /** v1: no CRLF within 107 bytes. */
  | 'too-long'
  /** v2: a family and transport byte the spec does not define. */
  | 'family'
  /** An address that is not one of its family (v1: leading zeros, a zone, the wrong family). */
  | 'address'
  /** A port out of 0..65535 or with leading zeros (v1). */
  | 'port'
  /** v2: a length shorter than the family's address block. */
  | 'length'
  /** v2: a TLV (or SSL sub-TLV) running past its container, or of a size its type forbids. */
  | 'tlv'
  /** The connection ended before the header did. */
  | 'truncated'

/** A PROXY protocol header that is not one: the connection is refused unprocessed. */
export class ProxyHeaderError extends SocketServerError {
  readonly reason: ProxyHeaderReason
  constructor(reason: ProxyHeaderReason, detail: string) {
    super('SOCKSRV_PROXY_HEADER', `bad PROXY protocol header (${reason}): ${detail}`)
    this.reason = reason
  }
}

/** No complete PROXY protocol header within `headerTimeout`. */
export class ProxyTimeoutError extends SocketServerError {
  readonly ms: number
  constructor(ms: number) {
    super('SOCKSRV_PROXY_TIMEOUT', `no complete PROXY protocol header within ${ms} ms (headerTimeout)`)
    this.ms = ms
  }
}

/** A connection from an address outside `trustedProxies` (with `untrusted: 'refuse'`). */
export class ProxyUntrustedError extends SocketServerError {
  readonly address: string
  constructor(address: string) {
    super(
      'SOCKSRV_PROXY_UNTRUSTED',
      `connection from ${address || 'a Unix client'} refused: not in trustedProxies`,
    )
    this.address = address
  }
}

/** A v2 header whose CRC32C TLV does not match the header's checksum. */
export class ProxyChecksumError extends SocketServerError {
  readonly expected: number
  readonly actual: number
  constructor(expected: number, actual: number) {
    const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`
    super(
      'SOCKSRV_PROXY_CHECKSUM',
      `PROXY protocol header checksum mismatch: CRC32C TLV says ${hex(expected)}, header is ${hex(actual)}`,
    )
    this.expected = expected
    this.actual = actual
  }
}
