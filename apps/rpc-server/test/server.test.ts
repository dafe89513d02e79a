import { RpcClient, xdr } from '@socketserver/sunrpc'
import { afterEach, describe, expect, it } from 'vitest'
import {
  KV_PROG,
  KV_VERS,
  KVPROC,
  KvStatus,
  kvGetResult,
  kvKey,
  kvKeys,
  kvPutArgs,
  kvStatus,
} from '../src/kv-program.js'
import { type RpcServer, startRpcServer } from '../src/server.js'
import { CLI, run } from './helpers.js'

const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

describe.each(['event-loop', 'sequential'] as const)('startRpcServer, %s mode', (mode) => {
  it.each(['tcp', 'udp'] as const)('serves every KV procedure over %s', async (transport) => {
    const rpc: RpcServer = await startRpcServer({ port: 0, mode, register: 'no' })
    cleanup.push(() => rpc.close())
    const port = rpc.listeners.find((l) => l.transport === transport)!.address.port
    const c = await RpcClient.connect({ host: '127.0.0.1', port, transport })
    cleanup.push(() => c.close())
    const call = <A, R>(proc: number, a: xdr_t<A>, args: A, r: xdr_t<R>) =>
      c.call(KV_PROG, KV_VERS, proc, a, args, r)
    await c.ping(KV_PROG, KV_VERS)
    const value = Buffer.from(`v-${Math.random()}`)
    expect(await call(KVPROC.PUT, kvPutArgs, { key: 'b', value }, kvStatus)).toBe(KvStatus.KV_OK)
    expect(await call(KVPROC.PUT, kvPutArgs, { key: 'a', value: Buffer.alloc(0) }, kvStatus)).toBe(
      KvStatus.KV_OK,
    )
    expect(await call(KVPROC.GET, kvKey, 'b', kvGetResult)).toEqual({ tag: KvStatus.KV_OK, value })
    expect(await call(KVPROC.LIST, xdr.void, undefined, kvKeys)).toEqual(['a', 'b'])
    expect(await call(KVPROC.DELETE, kvKey, 'b', kvStatus)).toBe(KvStatus.KV_OK)
    expect(await call(KVPROC.GET, kvKey, 'b', kvGetResult)).toEqual({
      tag: KvStatus.KV_NOT_FOUND,
      value: undefined,
    })
    expect(await call(KVPROC.DELETE, kvKey, 'b', kvStatus)).toBe(KvStatus.KV_NOT_FOUND)
    expect(rpc.store.size).toBe(1)
    // a value past KV_MAX_VALUE is refused by the type: GARBAGE_ARGS, nothing stored
    await expect(
      call(
        KVPROC.PUT,
        xdr.struct({ key: kvKey, value: xdr.varOpaque() }),
        { key: 'c', value: Buffer.alloc(5000) },
        kvStatus,
      ),
    ).rejects.toMatchObject({ status: 'GARBAGE_ARGS' })
    expect(rpc.store.size).toBe(1)
  })
})

type xdr_t<T> = import('@socketserver/sunrpc').XdrType<T>

describe('the CLI', () => {
  it('prints its usage with the program number from kv.x', async () => {
    const { stdout } = await run(process.execPath, [CLI, '--help'])
    expect(stdout).toContain(`program KV_PROG (${KV_PROG}, 0x20000101)`)
  })

  it('refuses an unknown mode with status 2', async () => {
    const error = await run(process.execPath, [CLI, '--mode', 'thread']).catch((e) => e)
    expect(error.code).toBe(2)
    expect(error.stderr).toContain('--mode')
  })
})
