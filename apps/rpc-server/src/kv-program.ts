import { readFileSync } from 'node:fs'
import { parseRpcl, procedure, type RpclProgram, RpcProgram, type XdrValue, xdr } from '@socketserver/sunrpc'

/** Where the program's definition lives: `kv.x` beside `src/` and `dist/`. */
export const KV_X_PATH = new URL('../kv.x', import.meta.url)

/** The `.x` as parsed: program, version and procedure numbers and the constants come from here. */
export const KV_X = parseRpcl(readFileSync(KV_X_PATH, 'utf8'))

const program = KV_X.programs.find((p) => p.name === 'KV_PROG')
if (!program) throw new Error(`${KV_X_PATH.pathname}: no program KV_PROG`)
const version = program.versions.find((v) => v.name === 'KV_V1')
if (!version) throw new Error(`${KV_X_PATH.pathname}: no version KV_V1 in KV_PROG`)
const constant = (name: string): number => {
  const value = KV_X.constants[name]
  if (value === undefined) throw new Error(`${KV_X_PATH.pathname}: no const ${name}`)
  return value
}
const procNumber = (name: string): number => {
  const proc = version.procedures.find((p) => p.name === name)
  if (!proc) throw new Error(`${KV_X_PATH.pathname}: no procedure ${name} in KV_V1`)
  return proc.number
}

export const KV_PROGRAM: Readonly<RpclProgram> = program
export const KV_PROG = program.number
export const KV_VERS = version.number
export const KV_MAX_KEY = constant('KV_MAX_KEY')
export const KV_MAX_VALUE = constant('KV_MAX_VALUE')
export const KV_MAX_KEYS = constant('KV_MAX_KEYS')
export const KVPROC = {
  NULL: procNumber('KVPROC_NULL'),
  GET: procNumber('KVPROC_GET'),
  PUT: procNumber('KVPROC_PUT'),
  DELETE: procNumber('KVPROC_DELETE'),
  LIST: procNumber('KVPROC_LIST'),
} as const

/** The XDR types of kv.x, written out as rpcgen reads them. */
export const kvKey = xdr.string(KV_MAX_KEY)
export const kvValue = xdr.varOpaque(KV_MAX_VALUE)
export const kvKeys = xdr.varArray(kvKey, KV_MAX_KEYS)
export const kvStatus = xdr.enum({ KV_OK: 0, KV_NOT_FOUND: 1, KV_FULL: 2 })
export const KvStatus = kvStatus.values
export const kvPutArgs = xdr.struct({ key: kvKey, value: kvValue })
export const kvGetResult = xdr.union(kvStatus, { [KvStatus.KV_OK]: kvValue }, xdr.void)
export type KvGetResult = XdrValue<typeof kvGetResult>

/** The store: at most `KV_MAX_KEYS` keys, each value at most `KV_MAX_VALUE` bytes (the types bound them). */
export class KvStore {
  readonly #map = new Map<string, Buffer>()
  get size(): number {
    return this.#map.size
  }
  get(key: string): Buffer | undefined {
    return this.#map.get(key)
  }
  put(key: string, value: Buffer): number {
    if (!this.#map.has(key) && this.#map.size >= KV_MAX_KEYS) return KvStatus.KV_FULL
    // Arguments are views of the received record: keep a copy, not the record.
    this.#map.set(key, Buffer.from(value))
    return KvStatus.KV_OK
  }
  delete(key: string): number {
    return this.#map.delete(key) ? KvStatus.KV_OK : KvStatus.KV_NOT_FOUND
  }
  keys(): string[] {
    return [...this.#map.keys()].sort()
  }
}

/** KV_PROG version KV_V1 over `store`. */
export function createKvProgram(store: KvStore): RpcProgram {
  return new RpcProgram({ number: KV_PROG, name: program!.name }).version(KV_VERS, {
    KVPROC_NULL: procedure(KVPROC.NULL, xdr.void, xdr.void, () => undefined),
    KVPROC_GET: procedure(KVPROC.GET, kvKey, kvGetResult, (key): KvGetResult => {
      const value = store.get(key)
      return value === undefined
        ? { tag: KvStatus.KV_NOT_FOUND, value: undefined }
        : { tag: KvStatus.KV_OK, value }
    }),
    KVPROC_PUT: procedure(KVPROC.PUT, kvPutArgs, kvStatus, ({ key, value }) => store.put(key, value) as 0),
    KVPROC_DELETE: procedure(KVPROC.DELETE, kvKey, kvStatus, (key) => store.delete(key) as 0),
    KVPROC_LIST: procedure(KVPROC.LIST, xdr.void, kvKeys, () => store.keys()),
  })
}
