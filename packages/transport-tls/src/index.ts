export { TLSHandshakeError, TLSHandshakeTimeoutError, TLSUnauthorizedError } from './errors.js'
export type { TLSOptions } from './terminator.js'
export { TLSMixIn, type TLSServerMethods } from './tls-mixin.js'
export { EventLoopTLSServer, TLSServer, type TLSServerOptions } from './tls-server.js'
export {
  EventLoopUnixStreamTLSServer,
  UnixStreamTLSServer,
  type UnixStreamTLSServerOptions,
} from './unix-tls-server.js'
