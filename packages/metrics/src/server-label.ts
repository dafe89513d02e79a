import type { BaseServer } from '@socketserver/core'

/**
 * The `server` label of a server without a name: its transport and bound address, written as the
 * demos' `--listen` takes it — `tcp:127.0.0.1:7007`, `udp:[::1]:7`, `unix:/run/echo.sock`,
 * `unix-dgram:@abstract`.
 */
export function serverLabel(server: BaseServer<any, any, any>): string {
  const address: unknown = server.serverAddress
  const stream = server.socketType === 'stream'
  if (typeof address === 'string') {
    return `${stream ? 'unix' : 'unix-dgram'}:${address.startsWith('\0') ? `@${address.slice(1)}` : address}`
  }
  const { host, address: ip, port } = (address ?? {}) as { host?: string; address?: string; port?: number }
  const where = ip ?? host ?? ''
  return `${stream ? 'tcp' : 'udp'}:${where.includes(':') ? `[${where}]` : where}:${port ?? ''}`
}
