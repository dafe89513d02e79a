export type { OversizedPacketPolicy } from '@socketserver/core'
export { MAX_RECEIVED_DATAGRAM, sendNotification, UnixDatagramSocket } from './datagram-socket.js'
export type { UnixServerOptions } from './options.js'
export { checkUnixPath, isAbstractName, MAX_UNIX_PATH_BYTES, PADDED_ABSTRACT_NAMES } from './path.js'
export {
  EventLoopUnixDatagramServer,
  type UnixDatagramRequest,
  UnixDatagramServer,
  type UnixDatagramServerOptions,
} from './unix-datagram-server.js'
export {
  EventLoopUnixStreamServer,
  UnixStreamServer,
  type UnixStreamServerOptions,
} from './unix-stream-server.js'
