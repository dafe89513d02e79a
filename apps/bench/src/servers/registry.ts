import { haproxyServers } from './haproxy.js'
import { poolServers } from './pools.js'
import { rpcServers } from './rpc.js'
import { tcpServers } from './tcp.js'
import { tlsServers } from './tls.js'
import type { StartServer } from './types.js'
import { udpServers } from './udp.js'
import { unixServers } from './unix.js'

/** Every Node server kind a scenario can name. The only module that imports the transport files. */
export const serverKinds: Record<string, StartServer> = {
  ...tcpServers,
  ...tlsServers,
  ...poolServers,
  ...udpServers,
  ...unixServers,
  ...rpcServers,
  ...haproxyServers,
}
