/**
 * The shape every server kind returns, in a module of its own: the transport files (tcp, udp, unix,
 * pools) and registry.ts all need it, and taking it from registry.ts would make each transport file
 * import the module that imports it.
 */

/** A server listening in this process, as the child entry point needs it. */
export interface RunningServer {
  port: number
  /** The socket path, for a Unix socket server. */
  path?: string
  close(): Promise<void>
}

export type StartServer = (host: string) => Promise<RunningServer>
