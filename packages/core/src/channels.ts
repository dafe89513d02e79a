import diagnostics from 'node:diagnostics_channel'

/**
 * Every diagnostics channel this project publishes, in one place. Publishing is guarded by
 * `hasSubscribers`, so a channel nobody listens to costs one property read.
 *
 * Subscribe with `diagnostics_channel.subscribe('socketserver:request:start', fn)` or through
 * these objects.
 */
export const channels = {
  /** `{ server, address }` once a server is bound and listening. */
  serverListening: diagnostics.channel('socketserver:server:listening'),
  /** `{ server, error }` for errors of the listening socket (EMFILE on accept, ...); the server keeps listening. */
  serverError: diagnostics.channel('socketserver:server:error'),
  /** `{ server }` when `serverClose()` begins. */
  serverClose: diagnostics.channel('socketserver:server:close'),
  /** `{ server, request, clientAddress }` when a verified request is handed to `processRequest`. */
  requestStart: diagnostics.channel('socketserver:request:start'),
  /** `{ server, request, clientAddress, durationMs }` when a request's processing has settled. */
  requestEnd: diagnostics.channel('socketserver:request:end'),
  /** `{ server, request, clientAddress, error }` for every error passed to `handleError`. */
  requestError: diagnostics.channel('socketserver:request:error'),
  /** `{ server, request, clientAddress, reason }` when a request is refused before processing. */
  requestDropped: diagnostics.channel('socketserver:request:dropped'),
  /**
   * `{ server, request, clientAddress, stage, error }` when a connection stage (PROXY header, TLS
   * handshake) refuses a connection before it is queued; `error.code` says why. No handler ran.
   */
  connectionRefused: diagnostics.channel('socketserver:connection:refused'),
  /**
   * `{ server, clientAddress, size, limit, action }` when a datagram server receives a datagram
   * larger than its `maxPacketSize`; `action` is `'truncate'` or `'drop'`.
   */
  packetOversized: diagnostics.channel('socketserver:packet:oversized'),
  /** `{ server, worker, kind: 'thread' | 'process', event: 'spawn' | 'exit' | 'replace' | 'timeout', detail }` from thread and process pools. */
  worker: diagnostics.channel('socketserver:worker:lifecycle'),
} as const

export type ChannelName = keyof typeof channels
