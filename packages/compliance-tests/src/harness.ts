import type { BaseServerOptions, RequestHandlerClass } from '@socketserver/core'
import type { AnyServer, ComplianceClient, ServerClass, ServerComplianceSetup } from './types.js'
import { Gate } from './util.js'

type Creatable<T> = { create(address: unknown, Handler: unknown, options?: BaseServerOptions): Promise<T> }

/** Everything one test opened, so that a failing test still closes it all. */
export class Harness {
  readonly #setup: ServerComplianceSetup<AnyServer>
  readonly #servers = new Set<AnyServer>()
  readonly #clients = new Set<ComplianceClient>()
  readonly #loops = new Set<Promise<unknown>>()
  readonly #gates = new Set<Gate>()

  constructor(setup: ServerComplianceSetup<AnyServer>) {
    this.#setup = setup
  }

  /** `Server.create(setup.address(), Handler, options)`, closed after the test. */
  async create<T extends AnyServer = AnyServer>(
    Handler: RequestHandlerClass<any, any, any>,
    options?: BaseServerOptions,
    Server: ServerClass<T> = this.#setup.Server as ServerClass<T>,
  ): Promise<T> {
    const server = await (Server as unknown as Creatable<T>).create(this.#setup.address(), Handler, options)
    this.#servers.add(server)
    return server
  }

  /** Adds a server made elsewhere to what is closed after the test. */
  track<T extends AnyServer>(server: T): T {
    this.#servers.add(server)
    return server
  }

  async connect(server: AnyServer): Promise<ComplianceClient> {
    const client = await this.#setup.connect(server)
    this.#clients.add(client)
    return client
  }

  /** Starts `serveForever()`; a short poll interval, as Python's tests use (0.01 s). */
  serve(server: AnyServer, pollInterval = 10): Promise<void> {
    const loop = server.serveForever({ pollInterval })
    this.#loops.add(loop.catch(() => {}))
    return loop
  }

  gate(): Gate {
    const gate = new Gate()
    this.#gates.add(gate)
    return gate
  }

  async cleanup(): Promise<void> {
    for (const gate of this.#gates) gate.open()
    await Promise.all([...this.#clients].map((client) => client.close().catch(() => {})))
    await Promise.all(
      [...this.#servers].map(async (server) => {
        server.blockOnClose = false
        await server.shutdown()
        await server.serverClose()
        server.abortRequests()
      }),
    )
    await Promise.all(this.#loops)
    this.#gates.clear()
    this.#clients.clear()
    this.#servers.clear()
    this.#loops.clear()
    await this.#setup.cleanup?.()
  }
}
