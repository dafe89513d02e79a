export { type InetAddress, type InetAddressInput, reusePortSupport, toInetAddress } from '@socketserver/core'
export {
  EventLoopUDPServer,
  type OversizedPacketPolicy,
  type UDPRequest,
  UDPServer,
  type UDPServerOptions,
} from './udp-server.js'
