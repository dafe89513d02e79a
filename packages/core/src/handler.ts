/**
 * What a server needs of a request handler: Python's three-step protocol. Each step may be async;
 * the server awaits them in order and `finish()` runs even when `handle()` throws.
 */
export interface RequestHandler {
  setup(): unknown
  handle(): unknown
  finish(): unknown
}

/** A class whose instances handle one request: `new Handler(request, clientAddress, server)`. */
export type RequestHandlerClass<Request = any, ClientAddress = any, Server = any> = new (
  request: Request,
  clientAddress: ClientAddress,
  server: Server,
) => RequestHandler

/**
 * What a handler's step returns: nothing, or something to await whose value is ignored, so that
 * `handle() { return this.rfile.copyTo(this.wfile) }` types (and an idle connection then keeps no
 * suspended async function).
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a step returns nothing or a promise, as `void | Promise<void>` did
export type HookResult = void | PromiseLike<unknown>

/**
 * Python's `BaseRequestHandler`: one instance per request. Override `handle()` (and `setup()`/
 * `finish()` when there is something to prepare or release).
 */
export class BaseRequestHandler<Request = unknown, ClientAddress = unknown, Server = unknown>
  implements RequestHandler
{
  constructor(
    readonly request: Request,
    readonly clientAddress: ClientAddress,
    readonly server: Server,
  ) {}

  setup(): HookResult {}

  handle(): HookResult {}

  finish(): HookResult {}
}
