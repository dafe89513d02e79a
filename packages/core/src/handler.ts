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

  setup(): void | Promise<void> {}

  handle(): void | Promise<void> {}

  finish(): void | Promise<void> {}
}

/** Runs a handler's steps as Python's `BaseRequestHandler.__init__` does. */
export async function runHandler(handler: RequestHandler): Promise<void> {
  await handler.setup()
  try {
    await handler.handle()
  } finally {
    await handler.finish()
  }
}
