import type { LoadgenMessage, ParentMessage, RunRequest, RunResult } from '../protocol.js'
import { tcpConnect } from './tcp-connect.js'
import { tcpIdle } from './tcp-idle.js'
import { tcpPingPong } from './tcp-pingpong.js'
import { udpPingPong } from './udp-pingpong.js'

/**
 * The load generator: its own process, started by the harness with an IPC channel, so that it
 * never shares an event loop with a server. It runs one workload at a time, as asked.
 */
const workloads: Record<string, (req: RunRequest) => Promise<RunResult>> = {
  'tcp-pingpong': tcpPingPong,
  'tcp-connect': tcpConnect,
  'tcp-idle': tcpIdle,
  'udp-pingpong': udpPingPong,
}

function send(message: LoadgenMessage): void {
  process.send?.(message)
}

if (!process.send) {
  process.stderr.write('loadgen: start me from the bench harness (needs an IPC channel)\n')
  process.exit(2)
}

// The harness is gone (exited or killed): nothing left to measure for.
process.on('disconnect', () => process.exit(0))

process.on('message', (message: ParentMessage) => {
  if (message.type === 'exit') {
    process.exit(0)
  }
  if (message.type !== 'run') return
  const workload = workloads[message.workload]
  if (!workload) {
    send({ type: 'error', id: message.id, message: `unknown workload ${message.workload}` })
    return
  }
  workload(message).then(
    (result) => send({ type: 'result', id: message.id, result }),
    (error: unknown) =>
      send({
        type: 'error',
        id: message.id,
        message: error instanceof Error ? error.message : String(error),
      }),
  )
})

send({ type: 'ready', pid: process.pid })
