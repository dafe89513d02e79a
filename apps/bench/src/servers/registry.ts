import { tcpServers } from './tcp.js'

/** A server listening in this process, as the child entry point needs it. */
export interface RunningServer {
  port: number
  close(): Promise<void>
}

export type StartServer = (host: string) => Promise<RunningServer>

/** Every Node server kind a scenario can name; later transports add theirs here. */
export const serverKinds: Record<string, StartServer> = {
  ...tcpServers,
}
