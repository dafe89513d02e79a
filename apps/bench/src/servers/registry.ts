import { poolServers } from './pools.js'
import { rpcServers } from './rpc.js'
import { tcpServers } from './tcp.js'
import { udpServers } from './udp.js'
import { unixServers } from './unix.js'

/** A server listening in this process, as the child entry point needs it. */
export interface RunningServer {
  port: number
  /** The socket path, for a Unix socket server. */
  path?: string
  close(): Promise<void>
}

export type StartServer = (host: string) => Promise<RunningServer>

/** Every Node server kind a scenario can name. */
export const serverKinds: Record<string, StartServer> = {
  ...tcpServers,
  ...poolServers,
  ...udpServers,
  ...unixServers,
  ...rpcServers,
}
