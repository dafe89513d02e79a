import { SocketServerError } from '@socketserver/core'

/**
 * XDR bytes that cannot be decoded: truncated data, a length above its limit or above the bytes
 * left, a bool other than 0/1, an enum or union discriminant not declared, non-zero padding.
 * In a call's arguments it becomes a `GARBAGE_ARGS` reply.
 */
export class XdrDecodeError extends SocketServerError {
  /** Byte offset in the buffer being decoded where decoding failed. */
  readonly offset: number
  constructor(message: string, offset: number) {
    super('SOCKSRV_XDR_DECODE', `XDR decode: ${message} (at byte ${offset})`)
    this.offset = offset
  }
}

/** A value that its XDR type cannot carry: out of range, too long, the wrong kind, an unknown union arm. */
export class XdrEncodeError extends SocketServerError {
  constructor(message: string) {
    super('SOCKSRV_XDR_ENCODE', `XDR encode: ${message}`)
  }
}

/**
 * A stream record (RFC 5531 section 11) larger than `maxRecordSize`, or made of more than
 * `maxFragments` fragments. Raised on the record mark, before the fragment's bytes are buffered;
 * the connection is then closed (the stream cannot be resynchronised).
 */
export class RecordTooLargeError extends SocketServerError {
  /** What the record would have reached, in bytes (or fragments when `fragments` is set). */
  readonly declared: number
  readonly limit: number
  /** `true` when the fragment count, not the size, crossed its limit. */
  readonly fragments: boolean
  constructor(declared: number, limit: number, fragments = false) {
    super(
      'SOCKSRV_RPC_RECORD_TOO_LARGE',
      fragments
        ? `RPC record of more than ${limit} fragments (maxFragments)`
        : `RPC record of ${declared} bytes exceeds maxRecordSize ${limit}`,
    )
    this.declared = declared
    this.limit = limit
    this.fragments = fragments
  }
}

/**
 * A message no RPC reply can be given to: shorter than a call header, a REPLY sent to a server, a
 * credential or verifier longer than 400 bytes. A datagram is dropped; a stream record is skipped.
 */
export class RpcProtocolError extends SocketServerError {
  readonly xid: number | undefined
  constructor(message: string, xid?: number) {
    super('SOCKSRV_RPC_PROTOCOL', `RPC: ${message}`)
    this.xid = xid
  }
}

/** RFC 5531 `auth_stat` values a procedure may deny a call with. */
export const AuthStat = {
  AUTH_OK: 0,
  AUTH_BADCRED: 1,
  AUTH_REJECTEDCRED: 2,
  AUTH_BADVERF: 3,
  AUTH_REJECTEDVERF: 4,
  AUTH_TOOWEAK: 5,
  AUTH_INVALIDRESP: 6,
  AUTH_FAILED: 7,
} as const
export type AuthStat = (typeof AuthStat)[keyof typeof AuthStat]

/**
 * Thrown by a procedure to deny the call with `MSG_DENIED`/`AUTH_ERROR` and this `auth_stat`
 * (e.g. `AUTH_TOOWEAK` for an AUTH_NONE caller when AUTH_SYS is required).
 */
export class RpcAuthError extends SocketServerError {
  readonly stat: AuthStat
  constructor(stat: AuthStat, message = `authentication failed (auth_stat ${stat})`) {
    super('SOCKSRV_RPC_AUTH', message)
    this.stat = stat
  }
}

/** Registering with (or unregistering from) rpcbind/portmapper failed: not running, refused, or no answer. */
export class RpcbindError extends SocketServerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SOCKSRV_RPCBIND', `rpcbind: ${message}`, options)
  }
}

/** An RPC call made by `RpcClient` was answered with something other than SUCCESS, or not at all. */
export class RpcCallError extends SocketServerError {
  /** `'PROG_UNAVAIL'`, `'PROC_UNAVAIL'`, `'RPC_MISMATCH'`, `'AUTH_ERROR'`, `'TIMEOUT'`, ... */
  readonly status: string
  readonly detail: unknown
  constructor(status: string, detail?: unknown) {
    super(
      'SOCKSRV_RPC_CALL',
      `RPC call failed: ${status}${detail === undefined ? '' : ` ${JSON.stringify(detail)}`}`,
    )
    this.status = status
    this.detail = detail
  }
}
