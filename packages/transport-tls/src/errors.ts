import { SocketServerError } from '@socketserver/core'

/**
 * A TLS handshake failed: not TLS at all (garbage instead of a ClientHello), no protocol version or
 * cipher in common, a client that closed or reset mid-handshake. `cause` is Node's error, when
 * there was one (its `code`, e.g. `ERR_SSL_WRONG_VERSION_NUMBER`, is in the message).
 */
export class TLSHandshakeError extends SocketServerError {
  constructor(reason: string, cause?: unknown) {
    super(
      'SOCKSRV_TLS_HANDSHAKE',
      `TLS handshake failed: ${reason}`,
      cause === undefined ? undefined : { cause },
    )
  }
}

/** A client did not complete its TLS handshake within `handshakeTimeout`. */
export class TLSHandshakeTimeoutError extends SocketServerError {
  readonly timeout: number
  constructor(timeout: number) {
    super('SOCKSRV_TLS_HANDSHAKE_TIMEOUT', `TLS handshake not completed within ${timeout} ms`)
    this.timeout = timeout
  }
}

/**
 * Mutual TLS (`requestCert` with `rejectUnauthorized`): the client sent no certificate, or one that
 * does not verify against `ca` (`authorizationError`: `'UNABLE_TO_VERIFY_LEAF_SIGNATURE'`,
 * `'CERT_HAS_EXPIRED'`, `'NO_CERTIFICATE'`, ...).
 */
export class TLSUnauthorizedError extends SocketServerError {
  readonly authorizationError: string
  constructor(authorizationError: string, cause?: unknown) {
    super(
      'SOCKSRV_TLS_UNAUTHORIZED',
      `TLS client not authorized: ${authorizationError}`,
      cause === undefined ? undefined : { cause },
    )
    this.authorizationError = authorizationError
  }
}
