/**
 * The in-process bus for the pooled modes. Worker threads and child processes share no memory with
 * the server, so the server process keeps the `MemoryChatState` and serves it to them over a Unix
 * socket: one JSON object a line, requests `{ id, op, args }` answered by `{ id, result }` or
 * `{ id, error }`, and every event pushed as `{ event }` in publish order. A node whose connection
 * drops (its worker crashed) is detached: its users' quits are published for it.
 *
 * The hub is itself a socketserver: an `EventLoopUnixStreamServer` with a `StreamRequestHandler`.
 */
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import { createInterface } from 'node:readline'
import { ConnectionClosedError } from '@socketserver/core'
import { StreamRequestHandler } from '@socketserver/stream-handlers'
import { EventLoopUnixStreamServer } from '@socketserver/transport-unix'
import { type MemoryBus, MemoryChatState } from './memory.js'
import type { ChatBus, ChatEvent, RoomInfo } from './types.js'

const OP_NAMES = [
  'claimNick',
  'releaseNick',
  'isOnline',
  'join',
  'part',
  'members',
  'rooms',
  'publish',
] as const
type Op = (typeof OP_NAMES)[number]
const OPS: ReadonlySet<string> = new Set(OP_NAMES)

/** Events a node has not read yet, in bytes, before the hub drops it as stuck. */
const MAX_NODE_BACKLOG = 64 * 1024 * 1024
/** Longest request line, in bytes: an event with a maximal chat line fits many times over. */
const MAX_REQUEST_LINE = 1024 * 1024

export interface ChatHub {
  /** Where nodes connect: give it to `HubBus.connect()`. */
  readonly path: string
  readonly state: MemoryChatState
  close(): Promise<void>
}

/** Starts a hub on the Unix socket `path` (a fresh temporary path: a stale one is replaced). */
export async function startChatHub(path: string, state = new MemoryChatState()): Promise<ChatHub> {
  class HubHandler extends StreamRequestHandler {
    override maxLineLength = MAX_REQUEST_LINE
    #bus!: MemoryBus

    override setup(): void {
      super.setup()
      this.#bus = state.attach()
      const socket = this.connection
      this.#bus.onEvent((event) => {
        if (socket.writableLength > MAX_NODE_BACKLOG) socket.destroy(new Error('chat node stopped reading'))
        else socket.write(`${JSON.stringify({ event })}\n`)
      })
    }

    override async handle(): Promise<void> {
      for await (const line of this.rfile) {
        const { id, op, args } = JSON.parse(line.toString()) as { id: number; op: Op; args: unknown[] }
        let reply: { id: number; result?: unknown; error?: string }
        if (!OPS.has(op)) reply = { id, error: `unknown operation ${op}` }
        else reply = { id, result: await (this.#bus[op] as (...a: unknown[]) => Promise<unknown>)(...args) }
        this.connection.write(`${JSON.stringify(reply)}\n`)
      }
    }

    override finish(): void {
      for (const quit of state.detach(this.#bus.id, 'server lost a worker')) state.publish(quit)
      super.finish()
    }
  }
  const server = await EventLoopUnixStreamServer.create(path, HubHandler)
  const serving = server.serveForever()
  return {
    path,
    state,
    async close() {
      await server.shutdown()
      await serving
      server.abortRequests()
      await server.serverClose()
    },
  }
}

/** A node's connection to a hub. */
export class HubBus implements ChatBus {
  readonly id: string
  readonly #socket: net.Socket
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
  #nextId = 1
  #listener: (event: ChatEvent) => void = () => {}

  private constructor(socket: net.Socket) {
    this.#socket = socket
    this.id = randomUUID()
    const lines = createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY })
    lines.on('line', (line) => {
      const message = JSON.parse(line) as { id?: number; result?: unknown; error?: string; event?: ChatEvent }
      if (message.event) return this.#listener(message.event)
      const pending = this.#pending.get(message.id!)
      this.#pending.delete(message.id!)
      if (message.error !== undefined) pending?.reject(new Error(message.error))
      else pending?.resolve(message.result)
    })
    socket.on('close', () => {
      for (const { reject } of this.#pending.values()) reject(new ConnectionClosedError())
      this.#pending.clear()
    })
    socket.on('error', () => {}) // 'close' follows and fails what was pending
  }

  static connect(path: string): Promise<HubBus> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path)
      socket.once('error', reject)
      socket.once('connect', () => {
        socket.off('error', reject)
        socket.setNoDelay?.(true)
        resolve(new HubBus(socket))
      })
    })
  }

  #call<T>(op: Op, ...args: unknown[]): Promise<T> {
    if (this.#socket.destroyed) return Promise.reject(new ConnectionClosedError())
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.#socket.write(`${JSON.stringify({ id, op, args })}\n`)
    })
  }

  claimNick(nick: string): Promise<boolean> {
    return this.#call('claimNick', nick)
  }
  releaseNick(nick: string): Promise<void> {
    return this.#call('releaseNick', nick)
  }
  isOnline(nick: string): Promise<boolean> {
    return this.#call('isOnline', nick)
  }
  join(room: string, nick: string): Promise<void> {
    return this.#call('join', room, nick)
  }
  part(room: string, nick: string): Promise<void> {
    return this.#call('part', room, nick)
  }
  members(room: string): Promise<string[]> {
    return this.#call('members', room)
  }
  rooms(): Promise<RoomInfo[]> {
    return this.#call('rooms')
  }
  publish(event: ChatEvent): Promise<void> {
    return this.#call('publish', event)
  }
  onEvent(listener: (event: ChatEvent) => void): void {
    this.#listener = listener
  }
  async close(): Promise<void> {
    // The hub detaches this node when the connection ends.
    await new Promise<void>((resolve) => {
      this.#socket.once('close', () => resolve())
      this.#socket.end()
    })
  }
}
