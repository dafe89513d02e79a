import diagnostics from 'node:diagnostics_channel'
import type net from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Worker } from 'node:worker_threads'
import {
  type ComplianceClient,
  connectStream,
  receiveLine,
  type StreamClient,
} from '@socketserver/compliance-tests'
import type { BaseServer } from '@socketserver/core'

/** The module the workers import the test handlers from (plain ESM). */
export const handlerModule = new URL('./fixtures/handlers.mjs', import.meta.url).href
export const handlerPath = fileURLToPath(handlerModule)

/** Servers and clients of one test, closed in afterEach whatever happened; checks no worker outlives it. */
export class Resources {
  readonly servers = new Set<BaseServer<any, any, any> & { workerThreads: Worker[] }>()
  readonly clients = new Set<ComplianceClient | net.Socket>()
  readonly workers = new Set<Worker>()

  server<T extends BaseServer<any, any, any> & { workerThreads: Worker[] }>(server: T): T {
    this.servers.add(server)
    for (const worker of server.workerThreads) this.workers.add(worker)
    return server
  }

  /** Closes `client` after the test. */
  client<T extends ComplianceClient>(client: T): T {
    this.clients.add(client)
    return client
  }

  async connect(options: net.NetConnectOpts): Promise<StreamClient> {
    return this.client(await connectStream(options))
  }

  async cleanup(): Promise<void> {
    for (const client of this.clients) {
      if ('close' in client && typeof client.close === 'function' && 'receive' in client) await client.close()
      else (client as net.Socket).destroy()
    }
    for (const server of this.servers) {
      for (const worker of server.workerThreads) this.workers.add(worker)
      await server.shutdown()
      server.blockOnClose = true
      server.abortRequests()
      await server.serverClose()
    }
    // No worker thread of this test may outlive it (threadId reads -1 once a thread has exited).
    const alive = [...this.workers].filter((worker) => worker.threadId !== -1)
    await Promise.all(alive.map((worker) => worker.terminate()))
    this.servers.clear()
    this.clients.clear()
    this.workers.clear()
    if (alive.length > 0) throw new Error(`${alive.length} worker thread(s) outlived the test`)
  }
}

/** Resolves once `server` starts handling a request (`socketserver:request:start`). */
export function requestStarted(server: unknown): Promise<void> {
  return new Promise((resolve) => {
    const onStart = (message: unknown) => {
      if ((message as { server: unknown }).server !== server) return
      diagnostics.unsubscribe('socketserver:request:start', onStart)
      resolve()
    }
    diagnostics.subscribe('socketserver:request:start', onStart)
  })
}

/** Sends `line` and resolves with the next line the server sends back (without the newline). */
export async function ask(client: ComplianceClient, line: string): Promise<string> {
  await client.send(`${line}\n`)
  return (await receiveLine(client)).toString().replace(/\n$/, '')
}

/** Reads everything until the server closes the connection. */
export async function readToEnd(client: StreamClient): Promise<string> {
  const chunks: Buffer[] = []
  for (;;) {
    const chunk = await client.receive()
    if (chunk.length === 0) return Buffer.concat(chunks).toString()
    chunks.push(chunk)
  }
}
