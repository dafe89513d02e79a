export { type InetAddress, type InetAddressInput, reusePortSupport, toInetAddress } from './address.js'
export { EventLoopTCPServer, TCPServer, type TCPServerOptions } from './tcp-server.js'
