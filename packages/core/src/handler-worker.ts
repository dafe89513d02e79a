import { isMainThread, workerData } from 'node:worker_threads'

/** Set in the environment of child processes and the `workerData` of threads that run handlers. */
export const HANDLER_WORKER_MARK = 'SOCKETSERVER_HANDLER_WORKER'

/**
 * True inside a worker thread or child process started by a thread or process pool to run request
 * handlers. A module that holds both the handler and the server guards the server's start-up with
 * it, so the worker can import the module for the handler without starting another server:
 *
 * ```ts
 * export class Echo extends StreamRequestHandler { ... }
 * if (!isHandlerWorker()) {
 *   const server = await ThreadingTCPServer.create(address, Echo, { handlerModule: import.meta.url })
 *   await server.serveForever()
 * }
 * ```
 */
export function isHandlerWorker(): boolean {
  if (!isMainThread) return Boolean((workerData as Record<string, unknown> | null)?.[HANDLER_WORKER_MARK])
  return process.env[HANDLER_WORKER_MARK] === '1'
}
