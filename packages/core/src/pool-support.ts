import { existsSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { channels } from './channels.js'
import { HandlerModuleError, InvalidArgumentError } from './errors.js'
import type { RequestHandlerClass } from './handler.js'
import { requestServerOf } from './lifecycle.js'

// What the thread pool and the process pool share: one copy here, imported by both.

/** `handlerModule` as a URL string a worker or child can `import()`: a URL, a URL string or an absolute path. */
export function handlerModuleUrl(value: string | URL): string {
  if (value instanceof URL) return value.href
  if (/^[a-z][a-z0-9+.-]+:/i.test(value)) return value // file:, data:, ... (not a Windows drive letter)
  if (isAbsolute(value)) return pathToFileURL(value).href
  throw new InvalidArgumentError(
    `handlerModule must be a URL (import.meta.url) or an absolute path; got the relative path ${JSON.stringify(value)}`,
  )
}

/**
 * The built entry file (`worker.js`, `child.js`) of a pool package: next to the module that asks
 * once built, or in its `dist/` when that module runs from its sources (the tests).
 */
export function builtEntry(from: string, file: string, packageName: string): URL {
  for (const candidate of [`./${file}`, `../dist/${file}`]) {
    const url = new URL(candidate, from)
    if (existsSync(fileURLToPath(url))) return url
  }
  throw new HandlerModuleError(
    `the ${file} entry of ${packageName} is missing: build the package (pnpm build)`,
  )
}

/** The error a pool gives when it has no `handlerModule` to load the handler class from. */
export function missingHandlerModule(mixin: string, where: string, className: string): HandlerModuleError {
  const name = className || 'the handler class'
  return new HandlerModuleError(
    `${mixin} runs ${name} in ${where}, which must import it: export ${name} from its module, pass { handlerModule: import.meta.url } (from that module), and guard the server's start-up there with if (!isHandlerWorker())`,
  )
}

/**
 * Loads the handler class in a worker or child: the export named `exportName`, or else the one
 * whose class name is `className`. Throws `HandlerModuleError` saying what is wrong.
 */
export async function loadHandlerClass(
  moduleUrl: string,
  exportName: string | undefined,
  className: string,
): Promise<RequestHandlerClass> {
  let module: Record<string, unknown>
  try {
    module = (await import(moduleUrl)) as Record<string, unknown>
  } catch (error) {
    throw new HandlerModuleError(
      `could not import handlerModule ${moduleUrl}: ${(error as Error)?.message ?? error}`,
      { cause: error },
    )
  }
  if (exportName !== undefined) {
    const value = module[exportName]
    if (typeof value === 'function') return value as RequestHandlerClass
    throw new HandlerModuleError(
      `handlerModule ${moduleUrl} has no exported class named ${JSON.stringify(exportName)} (handlerExport); it exports ${Object.keys(module).join(', ') || 'nothing'}`,
    )
  }
  const match = Object.values(module).find((value) => typeof value === 'function' && value.name === className)
  if (match) return match as RequestHandlerClass
  throw new HandlerModuleError(
    `handlerModule ${moduleUrl} does not export the handler class ${className}: add \`export\` to its declaration (or name the export with handlerExport)`,
  )
}

/** Callers waiting for a pool to change (a slot freed, a worker ready or gone): `wait()`, then `wake()` them all. */
export class Waiters {
  #waiting: Array<() => void> = []

  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve))
  }

  get size(): number {
    return this.#waiting.length
  }

  wake(): void {
    const waiting = this.#waiting
    this.#waiting = []
    for (const wake of waiting) wake()
  }
}

/** What `socketserver:worker:lifecycle` carries. */
export type WorkerEvent = 'spawn' | 'exit' | 'replace' | 'timeout'

/** Publishes a pool's worker event on `socketserver:worker:lifecycle` (when someone listens). */
export function publishWorker(
  server: unknown,
  worker: unknown,
  kind: 'thread' | 'process',
  event: WorkerEvent,
  detail?: unknown,
): void {
  if (channels.worker.hasSubscribers) channels.worker.publish({ server, worker, kind, event, detail })
}

/**
 * A pool runs one handler instance per request in another thread or process; a class that serves
 * its requests itself on the server's thread (`ConnectionHandler`) cannot run there.
 */
export function rejectRequestServer(mixin: string, RequestHandlerClass: RequestHandlerClass): void {
  if (requestServerOf(RequestHandlerClass)) {
    throw new InvalidArgumentError(
      `${mixin} cannot run ${RequestHandlerClass.name || 'a ConnectionHandler'}: a ConnectionHandler serves its connections on the server's own thread; use EventLoopMixIn (or no mixin), or a StreamRequestHandler in the pool`,
    )
  }
}
