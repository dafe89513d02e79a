export type { OversizedPacketPolicy } from '@socketserver/core'
export { type InetAddress, type InetAddressInput, reusePortSupport, toInetAddress } from '@socketserver/core'
export {
  DEFAULT_BURST,
  DEFAULT_RATE,
  type RateLimitOptions,
  ReflectionGuard,
  type ReflectionGuardOptions,
  rateLimitKey,
  TokenBucketLimiter,
  WELL_KNOWN_SERVICE_PORTS,
} from './reflection-guard.js'
export {
  EventLoopUDPServer,
  type UDPRequest,
  UDPServer,
  type UDPServerOptions,
} from './udp-server.js'
