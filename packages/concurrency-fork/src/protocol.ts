import type { SerializedError } from '@socketserver/core'
import type { ConnectionHandoff, TLSDetails } from '@socketserver/core/transport'

/** What kind of request a child handles: a passed stream socket, or a datagram the parent received. */
export type RequestKind = 'stream' | 'udp' | 'unix-dgram'

/** What a child is told at start: where its handler class is and how to close what it serves. */
export interface ChildSetup {
  handlerModule: string
  /** The export holding the handler class; `undefined`: the export whose class is named `className`. */
  handlerExport: string | undefined
  className: string
  kind: RequestKind
  serverAddress: unknown
  closeTimeout: number
  lingerTimeout: number
}

/** Parent → child. Sent with `serialization: 'advanced'`, so Buffers cross as Uint8Arrays. */
export type ToChild =
  | ({ t: 'init' } & ChildSetup)
  /**
   * A connection; the socket travels as the message's handle, with what a connection stage read
   * (`handoff`). `tls`: it carries the plaintext of a TLS connection that terminates in the parent
   * (see plaintext-bridge.ts).
   */
  | { t: 'conn'; id: number; clientAddress: unknown; tls?: TLSDetails; handoff?: ConnectionHandoff }
  | { t: 'dgram'; id: number; packet: Uint8Array; clientAddress: unknown }
  /** The parent sent (or failed to send) the datagram of `send` number `seq`. */
  | { t: 'sent'; seq: number; error?: SerializedError }
  /** The parent's handleError() for request `id` has run: the child may shut the request down. */
  | { t: 'handled'; id: number }
  /** Cut request `id` short (close its connection). */
  | { t: 'abort'; id: number }
  /** Take no more requests: exit once the ones in flight are done. */
  | { t: 'retire' }

/** Child → parent. */
export type ToParent =
  | { t: 'ready' }
  | { t: 'init-error'; error: SerializedError }
  /** The socket of connection `id` arrived: the parent closes its own copy. */
  | { t: 'got'; id: number }
  /** The handler of request `id` threw; the child waits for `handled` before shutting it down (Python's order). */
  | { t: 'error'; id: number; error: SerializedError }
  /** Request `id` is finished and its connection closed. */
  | { t: 'done'; id: number }
  /** A datagram reply: the parent sends it from the server's bound socket. */
  | { t: 'send'; id: number; seq: number; data: Uint8Array; port?: number; address?: string; path?: string }
  /** A handler called `this.server.shutdown()`. */
  | { t: 'shutdown' }
