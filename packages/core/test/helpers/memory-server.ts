import { BaseServer, BindError, EventLoopMixIn } from '@socketserver/core'
import type { StreamTransport } from '@socketserver/core/transport'

/**
 * A request of the in-memory transport below: core's serve loop, queue and hooks are tested on
 * their own here, with no network; transports test the same hooks over real sockets.
 */
export class MemoryRequest {
  /** How the server released it: `shutdown`, `close` or `abort` (cut short). */
  readonly releases: string[] = []
  readonly closed: Promise<string>
  #release!: (how: string) => void

  constructor(readonly id: number) {
    this.closed = new Promise((resolve) => (this.#release = resolve))
  }

  get isClosed(): boolean {
    return this.releases.length > 0
  }

  release(how: string): void {
    this.releases.push(how)
    this.#release(how)
  }
}

let nextId = 0

/** A transport whose "socket" is a method: `receive()` is what a listener does when a request arrives. */
export class MemoryServer extends BaseServer<MemoryRequest, string, string> {
  readonly addressFamily = undefined
  readonly socketType = 'stream' as const
  listening = false
  binds = 0
  protected readonly transport: StreamTransport = {
    socketType: 'stream',
    addressKind: 'unix',
    acceptPaused: () => {},
    closeOptions: () => ({ closeTimeout: 0, lingerTimeout: 0, lingerBytes: 0 }),
  }

  override serverBind(): void {
    this.binds++
    if (this.serverAddress === 'in-use') {
      throw new BindError(
        this.serverAddress,
        Object.assign(new Error('address in use'), { code: 'EADDRINUSE' }),
      )
    }
  }

  override serverActivate(): void {
    this.listening = true
  }

  protected override closeListener(): void {
    this.listening = false
  }

  override closeRequest(request: MemoryRequest): void {
    request.release('close')
  }

  override shutdownRequest(request: MemoryRequest): void {
    request.release('shutdown')
  }

  protected override abortRequest(request: MemoryRequest): void {
    request.release('abort')
  }

  /** Delivers a new request, as a listener would; returns it and whether it was queued. */
  receive(clientAddress = 'client'): { request: MemoryRequest; queued: boolean } {
    const request = new MemoryRequest(nextId++)
    return { request, queued: this.enqueueRequest(request, clientAddress) }
  }
}

export class EventLoopMemoryServer extends EventLoopMixIn(MemoryServer) {}
