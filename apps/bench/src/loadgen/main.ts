import { isMainThread, parentPort, Worker } from 'node:worker_threads'
import type { LoadgenMessage, ParentMessage, RunRequest, RunResult } from '../protocol.js'
import { type HistogramData, LatencyHistogram } from '../stats.js'
import { rpcWorkloads } from './rpc.js'
import { tcpConnect, tcpConnectProxy } from './tcp-connect.js'
import { tcpIdle } from './tcp-idle.js'
import { tcpPingPong } from './tcp-pingpong.js'
import { tlsConnect, tlsPingPong } from './tls.js'
import { udpPingPong } from './udp-pingpong.js'

/**
 * The load generator: its own process, started by the harness with an IPC channel, so that it
 * never shares an event loop with a server. It runs one workload at a time, as asked: in its main
 * thread, or split over `threads` worker threads (each with its share of the connections and its
 * own event loop) when one event loop cannot drive the servers hard enough.
 */
type Workload = (req: RunRequest, histogram?: LatencyHistogram) => Promise<RunResult>
const workloads: Record<string, Workload> = {
  'tcp-pingpong': tcpPingPong,
  'tcp-connect': tcpConnect,
  'tcp-connect-proxy': tcpConnectProxy,
  'tcp-idle': tcpIdle,
  'tls-pingpong': tlsPingPong,
  'tls-connect': tlsConnect,
  'udp-pingpong': udpPingPong,
  ...rpcWorkloads,
}
/** Idle connections read the server's memory before and after all of them: one thread only. */
const SPLITTABLE = new Set([
  'tcp-pingpong',
  'tcp-connect',
  'tcp-connect-proxy',
  'udp-pingpong',
  'tls-pingpong',
  'tls-connect',
])

interface WorkerReply {
  result?: RunResult
  histogram?: HistogramData
  error?: string
}

if (!isMainThread) {
  // A worker thread of the load generator: runs its share and sends back the raw histogram.
  parentPort!.on('message', (req: RunRequest) => {
    const histogram = new LatencyHistogram()
    workloads[req.workload]!(req, histogram).then(
      (result) => parentPort!.postMessage({ result, histogram: histogram.export() } satisfies WorkerReply),
      (error: unknown) =>
        parentPort!.postMessage({ error: error instanceof Error ? error.message : String(error) }),
    )
  })
} else {
  if (!process.send) {
    process.stderr.write('loadgen: start me from the bench harness (needs an IPC channel)\n')
    process.exit(2)
  }
  // The harness is gone (exited or killed): nothing left to measure for.
  process.on('disconnect', () => process.exit(0))
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'exit') process.exit(0)
    if (message.type !== 'run') return
    run(message).then(
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
}

function send(message: LoadgenMessage): void {
  process.send?.(message)
}

const pool: Worker[] = []

function onWorker(worker: Worker, req: RunRequest): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error)
    worker.once('error', onError)
    worker.once('message', (reply: WorkerReply) => {
      worker.off('error', onError)
      resolve(reply)
    })
    worker.postMessage(req)
  })
}

async function run(req: RunRequest): Promise<RunResult> {
  const workload = workloads[req.workload]
  if (!workload) throw new Error(`unknown workload ${req.workload}`)
  const threads = Math.min(req.threads ?? 1, req.connections)
  if (threads <= 1 || !SPLITTABLE.has(req.workload)) return workload(req)

  while (pool.length < threads) pool.push(new Worker(new URL(import.meta.url)))
  const replies = await Promise.all(
    pool.slice(0, threads).map((worker, i) => {
      // Connections shared out as evenly as they go.
      const connections = Math.floor(req.connections / threads) + (i < req.connections % threads ? 1 : 0)
      return onWorker(worker, { ...req, connections })
    }),
  )
  const failed = replies.find((r) => r.error !== undefined)
  if (failed) throw new Error(failed.error)
  const results = replies.map((r) => r.result!)
  const histogram = new LatencyHistogram()
  for (const r of replies) histogram.merge(r.histogram!)
  const errors = results.reduce((n, r) => n + r.errors, 0)
  const firstError = results.find((r) => r.firstError)?.firstError
  const lost = results.reduce((n, r) => n + (r.lost ?? 0), 0)
  // CPU and sleeps are the whole process's (process.cpuUsage and getrusage count every thread),
  // measured by each worker over nearly the same window: the largest is the process's. Event-loop
  // utilisation is per thread: the busiest tells whether one of them saturated.
  const max = (f: (r: RunResult) => number) => Math.max(...results.map(f))
  return {
    requests: results.reduce((n, r) => n + r.requests, 0),
    elapsedMs: max((r) => r.elapsedMs),
    latency: histogram.summary(),
    cpuUserUs: max((r) => r.cpuUserUs),
    cpuSystemUs: max((r) => r.cpuSystemUs),
    voluntaryContextSwitches: max((r) => r.voluntaryContextSwitches),
    eventLoopUtilization: max((r) => r.eventLoopUtilization),
    errors,
    ...(lost ? { lost } : {}),
    ...(firstError === undefined ? {} : { firstError }),
  }
}
