import { isIP } from 'node:net'
import { InvalidArgumentError } from './errors.js'

/** An IP socket address: what `serverAddress` and `clientAddress` hold for TCP and UDP servers. */
export interface InetAddress {
  address: string
  port: number
  family: 'IPv4' | 'IPv6'
}

/** What an IP server may be given: `{ host, port }`, `{ address, port }` or Python's `[host, port]`. */
export type InetAddressInput =
  | { host: string; port: number }
  | { address: string; port: number; family?: 'IPv4' | 'IPv6' }
  | readonly [host: string, port: number]

/**
 * Normalises an address to `{ address, port, family }`. An empty host means every interface, as in
 * Python; a host name is kept and resolved by the bind.
 */
export function toInetAddress(input: InetAddressInput): InetAddress {
  let host: unknown
  let port: unknown
  if (Array.isArray(input)) [host, port] = input
  else if (input && typeof input === 'object') {
    const o = input as { host?: unknown; address?: unknown; port?: unknown }
    host = o.host ?? o.address
    port = o.port
  }
  if (typeof host !== 'string') {
    throw new InvalidArgumentError(
      `address must be { host, port } or [host, port]; got ${JSON.stringify(input)}`,
    )
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`port must be an integer from 0 to 65535; got ${JSON.stringify(port)}`)
  }
  const address = host.replace(/^\[(.*)\]$/, '$1')
  return { address, port, family: isIP(address) === 6 ? 'IPv6' : 'IPv4' }
}

/**
 * `SO_REUSEPORT` through `net`'s `listen({ reusePort })` and `dgram`'s `createSocket({ reusePort })`
 * arrived in Node 22.12 / 23.1; Node 20 ignores the option (and the bind then fails with EADDRINUSE).
 */
export function reusePortSupport(): { supported: boolean; detail: string } {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
  const runtimeOk = major > 22 || (major === 22 && minor >= 12)
  const platformOk = ['linux', 'freebsd', 'sunos', 'aix'].includes(process.platform)
  if (!runtimeOk) return { supported: false, detail: `Node ${process.versions.node} (needs >= 22.12)` }
  if (!platformOk) return { supported: false, detail: `platform ${process.platform}` }
  return { supported: true, detail: 'ok' }
}
