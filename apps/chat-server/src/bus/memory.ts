import { fold } from '../text.js'
import type { ChatBus, ChatEvent, RoomInfo } from './types.js'

/**
 * The chat's shared state in one process's memory: what `MemoryBus` nodes attach to. Event-loop mode
 * has one node on it; the hub (`hub.ts`) puts one per worker thread or child process on it.
 */
export class MemoryChatState {
  /** Folded nickname → owner node and the nickname as spelled. */
  readonly #nicks = new Map<string, { owner: string; nick: string }>()
  /** Folded room → (folded nickname → nickname as spelled); and the room's name as first spelled. */
  readonly #rooms = new Map<string, { name: string; members: Map<string, string> }>()
  readonly #listeners = new Map<string, (event: ChatEvent) => void>()
  #nextId = 1

  /** A node on this state. */
  attach(): MemoryBus {
    return new MemoryBus(this, `memory-${this.#nextId++}`)
  }

  claim(owner: string, nick: string): boolean {
    const key = fold(nick)
    if (this.#nicks.has(key)) return false
    this.#nicks.set(key, { owner, nick })
    return true
  }

  release(owner: string, nick: string): void {
    const key = fold(nick)
    if (this.#nicks.get(key)?.owner === owner) this.#nicks.delete(key)
  }

  isOnline(nick: string): boolean {
    return this.#nicks.has(fold(nick))
  }

  join(room: string, nick: string): void {
    const key = fold(room)
    let entry = this.#rooms.get(key)
    if (!entry) this.#rooms.set(key, (entry = { name: room, members: new Map() }))
    entry.members.set(fold(nick), nick)
  }

  part(room: string, nick: string): void {
    const key = fold(room)
    const entry = this.#rooms.get(key)
    if (!entry) return
    entry.members.delete(fold(nick))
    if (entry.members.size === 0) this.#rooms.delete(key)
  }

  members(room: string): string[] {
    return [...(this.#rooms.get(fold(room))?.members.values() ?? [])]
  }

  rooms(): RoomInfo[] {
    return [...this.#rooms.values()]
      .map(({ name, members }) => ({ name, members: members.size }))
      .sort((a, b) => a.name.localeCompare(b.name))
  }

  publish(event: ChatEvent): void {
    for (const listener of this.#listeners.values()) listener(event)
  }

  listen(owner: string, listener: (event: ChatEvent) => void): void {
    this.#listeners.set(owner, listener)
  }

  /**
   * Removes a node and everything it held. Returns the events its users' departure means to the
   * others, so that whoever noticed a node vanish (the hub) can publish them.
   */
  detach(owner: string, reason: string): ChatEvent[] {
    this.#listeners.delete(owner)
    const quits: ChatEvent[] = []
    for (const [key, { owner: holder, nick }] of this.#nicks) {
      if (holder !== owner) continue
      this.#nicks.delete(key)
      const rooms: string[] = []
      for (const { name, members } of this.#rooms.values()) if (members.has(key)) rooms.push(name)
      for (const room of rooms) this.part(room, nick)
      quits.push({ type: 'quit', from: { nick, user: nick, host: 'gone' }, rooms, reason })
    }
    return quits
  }
}

/** A node on a `MemoryChatState`: the bus of event-loop mode, and the hub's view of each remote node. */
export class MemoryBus implements ChatBus {
  constructor(
    readonly state: MemoryChatState,
    readonly id: string,
  ) {}

  async claimNick(nick: string): Promise<boolean> {
    return this.state.claim(this.id, nick)
  }

  async releaseNick(nick: string): Promise<void> {
    this.state.release(this.id, nick)
  }

  async isOnline(nick: string): Promise<boolean> {
    return this.state.isOnline(nick)
  }

  async join(room: string, nick: string): Promise<void> {
    this.state.join(room, nick)
  }

  async part(room: string, nick: string): Promise<void> {
    this.state.part(room, nick)
  }

  async members(room: string): Promise<string[]> {
    return this.state.members(room)
  }

  async rooms(): Promise<RoomInfo[]> {
    return this.state.rooms()
  }

  async publish(event: ChatEvent): Promise<void> {
    this.state.publish(event)
  }

  onEvent(listener: (event: ChatEvent) => void): void {
    this.state.listen(this.id, listener)
  }

  async close(): Promise<void> {
    this.state.detach(this.id, 'server closed')
  }
}
