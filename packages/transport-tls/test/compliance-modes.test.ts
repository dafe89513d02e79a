// The shared compliance suite on TLS in every concurrency mode: thread pool, thread per request,
// process pool, process per request. TLS terminates in the main thread / parent; the handlers run
// in workers and children (remote mode) on the plaintext.
import diagnostics from 'node:diagnostics_channel'
import {
  COMPLIANCE_REPORT_ENV,
  type ServerClass,
  serverComplianceTests,
  tlsSetup,
  waitFor,
} from '@socketserver/compliance-tests'
import { defaultChildEnv, ForkingMixIn } from '@socketserver/concurrency-fork'
import { ThreadingMixIn } from '@socketserver/concurrency-thread'
import { channels } from '@socketserver/core'
import { TLSServer } from '../src/index.js'
import { trust, withCertificate } from './helpers/compliance.js'

class ThreadingTLSServer extends ThreadingMixIn(TLSServer) {}
class ForkingTLSServer extends ForkingMixIn(TLSServer) {}

// Worker threads and child processes alive, from the pools' lifecycle channel.
const alive = new Set<unknown>()
diagnostics.subscribe(channels.worker.name, (message) => {
  const { event, worker } = message as { event: string; worker: unknown }
  if (event === 'spawn') alive.add(worker)
  else if (event === 'exit') alive.delete(worker)
})

const modes: Array<[ServerClass, string, () => Record<string, unknown>]> = [
  [ThreadingTLSServer, 'pool', () => ({ threads: 2 })],
  [ThreadingTLSServer, 'thread per request', () => ({ threadPerRequest: true })],
  [ForkingTLSServer, 'pool', () => forked({ forkMode: 'pool', processes: 2 })],
  [ForkingTLSServer, 'child per request', () => forked({ forkMode: 'per-request' })],
]

function forked(options: Record<string, unknown>): Record<string, unknown> {
  return {
    ...options,
    lingerTimeout: 100, // the suite's clients stay open until the test ends (see the fork package's setup)
    env: { ...defaultChildEnv(), [COMPLIANCE_REPORT_ENV]: process.env[COMPLIANCE_REPORT_ENV] },
  }
}

for (const [Server, label, options] of modes) {
  for (const host of ['127.0.0.1', '::1']) {
    serverComplianceTests({
      name: `${Server.name} (${label}) on ${host}`,
      Server: withCertificate(Server),
      concurrency: 'concurrent',
      remote: { options },
      bindLeakIterations: 50,
      async cleanup() {
        await waitFor(() => alive.size === 0, { what: 'workers and children to exit' })
      },
      ...tlsSetup(host, trust),
    })
  }
}
