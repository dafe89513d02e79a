#!/usr/bin/env node
import { runCli, say } from '@socketserver/app-cli'
import { KV_PROG, KV_VERS } from './kv-program.js'
import { PROGRAM, parseCliArgs, USAGE } from './options.js'
import { startRpcServer } from './server.js'

void runCli({
  program: PROGRAM,
  usage: USAGE,
  parse: parseCliArgs,
  start: (options) =>
    startRpcServer({
      host: options.host,
      port: options.port,
      ...(options.listeners ? { listeners: options.listeners } : {}),
      mode: options.mode,
      register: options.register,
      idleTimeout: options.idleTimeout,
    }),
  listening(rpc) {
    for (const { label } of rpc.listeners) say(`rpc: listening on ${label} (mode ${rpc.mode})`)
    say(
      rpc.registration
        ? `rpc: registered program ${KV_PROG} version ${KV_VERS} with rpcbind`
        : `rpc: not registered with rpcbind${rpc.registrationError ? ` (${rpc.registrationError.message})` : ''}`,
    )
  },
  draining: (_rpc, signal, { drainTimeout }) =>
    `rpc: ${signal}: stopped accepting and unregistered; draining for up to ${drainTimeout} ms (${signal} again forces exit)`,
  async stopped(rpc, aborted) {
    await rpc.unregister()
    const s = rpc.program.stats
    return `rpc: stopped: ${s.success} call(s) answered, ${s.garbageArgs + s.procUnavail + s.progMismatch + s.progUnavail + s.rpcMismatch + s.authError} refused with an RPC error, ${s.cacheHits} retransmission(s) answered from the cache, ${s.dropped} message(s) dropped, ${aborted} cut short at the drain timeout, ${rpc.store.size} key(s) stored`
  },
})
