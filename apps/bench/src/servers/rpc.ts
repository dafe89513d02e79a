import { readFileSync } from 'node:fs'
import type { InetAddress } from '@socketserver/core'
import {
  parseRpcl,
  procedure,
  RpcProgram,
  rpcDatagramHandler,
  rpcStreamHandler,
  xdr,
} from '@socketserver/sunrpc'
import { EventLoopTCPServer } from '@socketserver/transport-tcp'
import { EventLoopUDPServer } from '@socketserver/transport-udp'
import type { RunningServer } from './types.js'

/**
 * The Sun RPC scenarios' Node server: kv.x's KV_PROG (the app's definition, read from its file;
 * the bench does not import the app) on EventLoopTCPServer and EventLoopUDPServer, one port for
 * both, as the rpcgen-built C server it is compared with.
 */
export const KV_X_PATH = new URL('../../rpc-server/kv.x', import.meta.url)

export function kvNumbers() {
  const x = parseRpcl(readFileSync(KV_X_PATH, 'utf8'))
  const prog = x.programs.find((p) => p.name === 'KV_PROG')!
  const vers = prog.versions.find((v) => v.name === 'KV_V1')!
  const proc = (name: string) => vers.procedures.find((p) => p.name === name)!.number
  return {
    prog: prog.number,
    vers: vers.number,
    NULL: proc('KVPROC_NULL'),
    GET: proc('KVPROC_GET'),
    PUT: proc('KVPROC_PUT'),
    maxKey: x.constants.KV_MAX_KEY!,
    maxValue: x.constants.KV_MAX_VALUE!,
  }
}

export async function rpcKv(host: string): Promise<RunningServer> {
  const kv = kvNumbers()
  const key = xdr.string(kv.maxKey)
  const value = xdr.varOpaque(kv.maxValue)
  const status = xdr.enum({ KV_OK: 0, KV_NOT_FOUND: 1, KV_FULL: 2 })
  const store = new Map<string, Buffer>()
  const program = new RpcProgram({ number: kv.prog, name: 'KV_PROG' }).version(kv.vers, {
    KVPROC_GET: procedure(kv.GET, key, xdr.union(status, { 0: value }, xdr.void), (k) => {
      const v = store.get(k)
      return v === undefined ? { tag: 1, value: undefined } : { tag: 0 as const, value: v }
    }),
    KVPROC_PUT: procedure(kv.PUT, xdr.struct({ key, value }), status, ({ key: k, value: v }) => {
      store.set(k, Buffer.from(v))
      return 0 as const
    }),
  })
  const tcp = await EventLoopTCPServer.create({ host, port: 0 }, rpcStreamHandler(program))
  const port = (tcp.serverAddress as InetAddress).port
  const udp = await EventLoopUDPServer.create({ host, port }, rpcDatagramHandler(program), {
    maxPacketSize: 65_535,
  })
  const serving = Promise.all([tcp.serveForever(), udp.serveForever()])
  return {
    port,
    async close() {
      await Promise.all([tcp.shutdown(), udp.shutdown()])
      await serving
      await Promise.all([tcp.serverClose(), udp.serverClose()])
    },
  }
}

export const rpcServers = { 'rpc-kv': rpcKv }
