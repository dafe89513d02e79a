import type { BaseServer, BaseServerOptions, RequestHandlerClass } from '@socketserver/core'

export type AnyServer = BaseServer<any, any, any>

/** A server class as the contract describes it: `new X(address, Handler, options?)` and `X.create(...)`. */
export interface ServerClass<S extends AnyServer = AnyServer> {
  new (address: any, RequestHandlerClass: RequestHandlerClass<any, any, any>, options?: BaseServerOptions): S
  readonly name: string
}

/** How the suite's handlers exchange messages with their client, whatever the transport. */
export interface HandlerIO {
  /**
   * One message from the client: for a stream, the next line including its `\n` (the rest at end
   * of stream, an empty Buffer at end of stream); for a datagram, the packet.
   */
  read(handler: SuiteHandler): Promise<Buffer>
  /** Sends `data` to this request's client. */
  write(handler: SuiteHandler, data: Buffer): Promise<void>
}

/** What `HandlerIO` gets: a handler instance of the suite (it extends `setup.HandlerBase`). */
export interface SuiteHandler {
  readonly request: any
  readonly clientAddress: any
  readonly server: any
}

/** A client of the server under test, one per connection (stream) or per peer socket (datagram). */
export interface ComplianceClient {
  /** Sends bytes: written to the connection (stream) or sent as one datagram. */
  send(data: Buffer | string): Promise<void>
  /**
   * The next bytes from the server: a chunk (stream) or a datagram. For a stream, an empty Buffer
   * once the server closed the connection (end of stream or reset).
   */
  receive(): Promise<Buffer>
  /** Releases the client; safe to call twice. */
  close(): Promise<void>
}

/** Describes the server class under test. */
export interface ServerComplianceSetup<S extends AnyServer = AnyServer> {
  /** Label of the `describe` block. Default: the class name. */
  name?: string
  /** The class under test. The suite subclasses it to override hooks, as Python's tests do. */
  Server: ServerClass<S>
  /** `'stream'` (TCP, Unix stream) or `'dgram'` (UDP, Unix datagram): stream-only checks run for streams. */
  socketType: 'stream' | 'dgram'
  /**
   * What the class promises: `'one-at-a-time'` (Python's plain servers: the loop waits for each
   * request) or `'concurrent'` (event loop, threads, forks: a slow handler does not hold up others).
   */
  concurrency: 'one-at-a-time' | 'concurrent'
  /** A fresh address to bind: port 0 on 127.0.0.1 or ::1, a new temporary path for Unix servers. */
  address(): unknown
  /** An address that `server` holds, so that binding it again fails (`EADDRINUSE`). */
  addressInUse(server: S): unknown
  /** Addresses the constructor must refuse with `InvalidArgumentError`. Default: none. */
  invalidAddresses?: unknown[]
  /** Connects a new client to `server`; rejects when the server does not accept it (stream). */
  connect(server: S): Promise<ComplianceClient>
  /** How the suite's handlers read and write messages. Required unless `remote` is set. */
  io?: HandlerIO
  /** The class the suite's handlers extend. Default: core's `BaseRequestHandler`. Ignored when `remote` is set. */
  HandlerBase?: new (
    request: any,
    clientAddress: any,
    server: any,
  ) => any
  /** Whether the server's listening (or receiving) socket is open. */
  isListening(server: S): boolean
  /** The address the operating system reports for the bound socket (Python's `socket.getsockname()`). */
  socketAddress?(server: S): unknown
  /** Runs after each test, once the suite has closed what it opened (e.g. removes socket files). */
  cleanup?(): void | Promise<void>
  /** Failed binds in the descriptor-leak test. Default: `1000`. */
  bindLeakIterations?: number
  /** Longest one test may run, in ms. Default: `20000`. */
  testTimeout?: number
  /**
   * Remote-handler mode, for servers that run handlers in worker threads or child processes
   * (`ThreadingMixIn`, `ForkingMixIn`): the suite creates every server with the handler's module
   * and export name (`{ handlerModule, handlerExport }`) plus `options`, the handlers read and write
   * with `messageIO`, and what they do reaches the test over a socket named by the environment
   * variable `COMPLIANCE_REPORT_ENV`. Default: handlers run in process.
   */
  remote?: RemoteSetup
}

/** How the suite builds servers whose handlers live in a module (`setup.remote`). */
export interface RemoteSetup {
  /**
   * More options for every server the suite creates (e.g. `{ threads: 2 }`); a function is called
   * for each server, after the suite set `COMPLIANCE_REPORT_ENV` for the test. Default: none.
   */
  options?: Record<string, unknown> | (() => Record<string, unknown>)
  /**
   * The module the workers import the handlers from, as a URL or absolute path. Default: the
   * package's built `@socketserver/compliance-tests/handlers` (`dist/handlers.js`).
   */
  handlerModule?: string | URL
}
