import type { ServerReady } from '../protocol.js'
import { serverKinds } from './registry.js'

/**
 * One server per process: `node dist/server.js <kind> [host]`.
 *
 * The contract with the harness is language-agnostic, so a Python peer can keep it too: print one
 * JSON line `{"ready":true,"host":...,"port":...,"pid":...}` on stdout once listening; stop and exit
 * when stdin closes (the harness closed it, or died) or on SIGTERM/SIGINT.
 */
const [kind = '', host = '127.0.0.1'] = process.argv.slice(2)
const start = serverKinds[kind]
if (!start) {
  process.stderr.write(
    `server: unknown kind ${JSON.stringify(kind)}; known: ${Object.keys(serverKinds).join(', ')}\n`,
  )
  process.exit(2)
}

const server = await start(host)
let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  const forced = setTimeout(() => process.exit(1), 3_000)
  forced.unref()
  // process.exit() (not a kill) lets --cpu-prof write its profile.
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
}
process.stdin.on('end', stop)
process.stdin.on('close', stop)
process.stdin.resume()
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

const ready: ServerReady = {
  ready: true,
  host,
  port: server.port,
  pid: process.pid,
  ...(server.path === undefined ? {} : { path: server.path }),
}
process.stdout.write(`${JSON.stringify(ready)}\n`)
