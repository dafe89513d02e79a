export {
  encodeLengthPrefixed,
  type FrameDecoder,
  LengthPrefixedDecoder,
  type LengthPrefixedOptions,
  LineDecoder,
  type LineDecoderOptions,
  readFrames,
} from './codecs.js'
export { Connection, ConnectionHandler } from './connection-handler.js'
export {
  type DatagramRequest,
  DatagramRequestHandler,
  DatagramWriter,
  MAX_UDP_PAYLOAD,
} from './datagram-handler.js'
export { LineHandler } from './line-handler.js'
export { SocketReader, type SocketReaderOptions } from './socket-reader.js'
export { SocketWriter, type SocketWriterOptions } from './socket-writer.js'
export { StreamRequestHandler } from './stream-handler.js'
