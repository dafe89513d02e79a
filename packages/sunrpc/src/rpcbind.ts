import { RpcClient } from './client.js'
import { RpcbindError } from './errors.js'
import { xdr } from './xdr.js'

/** rpcbind / portmapper (RFC 1833). */
export const PMAP_PROG = 100000
export const PMAP_VERS = 2
export const PMAP_PORT = 111
export const PmapProc = { NULL: 0, SET: 1, UNSET: 2, GETPORT: 3, DUMP: 4 } as const
export const IPPROTO_TCP = 6
export const IPPROTO_UDP = 17

/** PMAP v2 `mapping`. */
export const pmapMapping = xdr.struct({ prog: xdr.uint, vers: xdr.uint, prot: xdr.uint, port: xdr.uint })
export type PmapMapping = { prog: number; vers: number; prot: number; port: number }

interface PmapList {
  map: PmapMapping
  next: PmapList | null
}
const pmapList: ReturnType<typeof xdr.optional<PmapList>> = xdr.optional(
  xdr.struct({ map: pmapMapping, next: xdr.lazy(() => pmapList) }) as never,
)

export interface RpcbindOptions {
  /** Where rpcbind listens. Default: `'127.0.0.1'` (it accepts SET/UNSET only from loopback). */
  host?: string
  /** Default: `111`. */
  port?: number
  /** How long each request may take, in ms. Default: `3000`. */
  timeout?: number
}

/** One program version on one transport and port. */
export interface RpcbindEntry {
  prog: number
  vers: number
  protocol: 'tcp' | 'udp'
  port: number
}

async function withPmap<T>(options: RpcbindOptions, f: (client: RpcClient) => Promise<T>): Promise<T> {
  const { host = '127.0.0.1', port = PMAP_PORT, timeout = 3000 } = options
  let client: RpcClient
  try {
    client = await RpcClient.connect({ host, port, transport: 'tcp', timeout })
  } catch (error) {
    throw new RpcbindError(`cannot reach rpcbind at ${host}:${port} (${(error as Error).message})`, {
      cause: error,
    })
  }
  try {
    return await f(client)
  } catch (error) {
    throw error instanceof RpcbindError ? error : new RpcbindError((error as Error).message, { cause: error })
  } finally {
    client.close()
  }
}

const prot = (p: 'tcp' | 'udp') => (p === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP)

/** The mappings rpcbind holds (`PMAPPROC_DUMP`, what `rpcinfo -p` shows). */
export function pmapDump(options: RpcbindOptions = {}): Promise<PmapMapping[]> {
  return withPmap(options, async (client) => {
    let list = await client.call(PMAP_PROG, PMAP_VERS, PmapProc.DUMP, xdr.void, undefined, pmapList)
    const out: PmapMapping[] = []
    while (list) {
      out.push(list.map)
      list = list.next
    }
    return out
  })
}

/** The port rpcbind gives for a program version on a transport (`PMAPPROC_GETPORT`); 0 if none. */
export function pmapGetport(
  prog: number,
  vers: number,
  protocol: 'tcp' | 'udp',
  options: RpcbindOptions = {},
): Promise<number> {
  return withPmap(options, (client) =>
    client.call(
      PMAP_PROG,
      PMAP_VERS,
      PmapProc.GETPORT,
      pmapMapping,
      { prog, vers, prot: prot(protocol), port: 0 },
      xdr.uint,
    ),
  )
}

/** A registration made by `rpcbindRegister()`: `unregister()` (or `await using`) removes it. */
export interface RpcbindRegistration {
  readonly entries: readonly RpcbindEntry[]
  unregister(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Registers each entry with rpcbind (`PMAPPROC_SET`, version 2, over TCP on loopback). An entry
 * already mapped (by another server) makes rpcbind answer false: this rejects with `RpcbindError`
 * after unregistering what it had set. Call `unregister()` when the servers close.
 */
export async function rpcbindRegister(
  entries: readonly RpcbindEntry[],
  options: RpcbindOptions = {},
): Promise<RpcbindRegistration> {
  const done: RpcbindEntry[] = []
  await withPmap(options, async (client) => {
    for (const entry of entries) {
      const ok = await client.call(
        PMAP_PROG,
        PMAP_VERS,
        PmapProc.SET,
        pmapMapping,
        { prog: entry.prog, vers: entry.vers, prot: prot(entry.protocol), port: entry.port },
        xdr.bool,
      )
      if (!ok) {
        for (const d of done) await unset(client, d).catch(() => {})
        throw new RpcbindError(
          `refused to map program ${entry.prog} version ${entry.vers} ${entry.protocol} to port ${entry.port} (already registered?)`,
        )
      }
      done.push(entry)
    }
  })
  let removed: Promise<void> | undefined
  const unregister = () =>
    (removed ??= withPmap(options, async (client) => {
      // PMAPPROC_UNSET drops every transport of a program version at once: once per (prog, vers).
      const seen = new Set<string>()
      for (const entry of done) {
        const key = `${entry.prog}/${entry.vers}`
        if (seen.has(key)) continue
        seen.add(key)
        await unset(client, entry)
      }
    }))
  return { entries: done, unregister, [Symbol.asyncDispose]: unregister }
}

function unset(client: RpcClient, entry: RpcbindEntry): Promise<boolean> {
  return client.call(
    PMAP_PROG,
    PMAP_VERS,
    PmapProc.UNSET,
    pmapMapping,
    { prog: entry.prog, vers: entry.vers, prot: prot(entry.protocol), port: 0 },
    xdr.bool,
  )
}

/** Removes whatever rpcbind maps for a program version (`PMAPPROC_UNSET`), e.g. left by a crashed server. */
export function rpcbindUnset(prog: number, vers: number, options: RpcbindOptions = {}): Promise<boolean> {
  return withPmap(options, (client) => unset(client, { prog, vers, protocol: 'tcp', port: 0 }))
}
