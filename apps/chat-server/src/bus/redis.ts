/**
 * The bus on Redis, for chat servers in several processes or on several machines: state in hashes
 * updated atomically (Lua scripts where a check and a write must be one step), events on one pub/sub
 * channel, whose single order every subscriber sees.
 *
 * Keys, under `prefix` (default `chat:`):
 * - `node:<id>`: this node is alive; expires `NODE_TTL` ms after the last refresh. Entries owned by a
 *   node whose key is gone (it crashed) count as absent and are taken over or skipped.
 * - `nicks`: folded nickname → `<node id> <nickname>`.
 * - `rooms`: folded room → room name; `room:<folded room>`: folded nickname → `<node id> <nickname>`.
 * - channel `events`: one JSON `ChatEvent` per message.
 */
import { randomUUID } from 'node:crypto'
import { createClient } from '@redis/client'
import { fold } from '../text.js'
import type { ChatBus, ChatEvent, RoomInfo } from './types.js'

/** How long a node counts as alive after its last heartbeat, in ms. */
const NODE_TTL = 15_000
const HEARTBEAT = 5_000

// KEYS[1] = nicks hash; ARGV = folded nick, "<id> <nick>", node key prefix.
const CLAIM = `
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and redis.call('EXISTS', ARGV[3] .. string.match(held, '^(%S+)')) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`
// KEYS[1] = hash; ARGV = field, owner id: deletes the field only if this node owns it.
const RELEASE = `
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and string.match(held, '^(%S+)') == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`
// KEYS = room hash, rooms hash; ARGV = folded nick, folded room: the room goes when it empties.
const PART = `
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
return 0`

// Both connections come from one createClient() call, so they share its type.
type Client = ReturnType<typeof createClient<{}, {}, {}, 2, {}>>

export class RedisBus implements ChatBus {
  readonly id = randomUUID()
  readonly #client: Client
  readonly #subscriber: Client
  readonly #prefix: string
  readonly #heartbeat: NodeJS.Timeout
  #listener: (event: ChatEvent) => void = () => {}

  private constructor(client: Client, subscriber: Client, prefix: string) {
    this.#client = client
    this.#subscriber = subscriber
    this.#prefix = prefix
    this.#heartbeat = setInterval(() => {
      this.#alive().catch(() => {}) // a lost connection reconnects; the next beat retries
    }, HEARTBEAT).unref()
  }

  /** Connects to `url` (`redis://host:port`); everything lives under `prefix`. */
  static async connect(url: string, { prefix = 'chat:' } = {}): Promise<RedisBus> {
    const client = createClient({ url })
    client.on('error', () => {}) // reconnects by itself; commands fail meanwhile
    await client.connect()
    const subscriber = client.duplicate()
    subscriber.on('error', () => {})
    try {
      await subscriber.connect()
    } catch (error) {
      client.destroy()
      throw error
    }
    const bus = new RedisBus(client, subscriber, prefix)
    await bus.#alive()
    await subscriber.subscribe(`${prefix}events`, (message) => bus.#listener(JSON.parse(message)))
    return bus
  }

  #alive() {
    return this.#client.set(`${this.#prefix}node:${this.id}`, '1', { PX: NODE_TTL })
  }

  async claimNick(nick: string): Promise<boolean> {
    const claimed = await this.#client.eval(CLAIM, {
      keys: [`${this.#prefix}nicks`],
      arguments: [fold(nick), `${this.id} ${nick}`, `${this.#prefix}node:`],
    })
    return claimed === 1
  }

  async releaseNick(nick: string): Promise<void> {
    await this.#client.eval(RELEASE, { keys: [`${this.#prefix}nicks`], arguments: [fold(nick), this.id] })
  }

  async isOnline(nick: string): Promise<boolean> {
    const held = await this.#client.hGet(`${this.#prefix}nicks`, fold(nick))
    return held !== null && (await this.#alivePart([held])).length === 1
  }

  async join(room: string, nick: string): Promise<void> {
    await this.#client
      .multi()
      .hSetNX(`${this.#prefix}rooms`, fold(room), room) // the name as first spelled, as in memory
      .hSet(`${this.#prefix}room:${fold(room)}`, fold(nick), `${this.id} ${nick}`)
      .exec()
  }

  async part(room: string, nick: string): Promise<void> {
    await this.#client.eval(PART, {
      keys: [`${this.#prefix}room:${fold(room)}`, `${this.#prefix}rooms`],
      arguments: [fold(nick), fold(room)],
    })
  }

  async members(room: string): Promise<string[]> {
    const entries = Object.values(await this.#client.hGetAll(`${this.#prefix}room:${fold(room)}`))
    return (await this.#alivePart(entries)).map((entry) => entry.slice(entry.indexOf(' ') + 1))
  }

  async rooms(): Promise<RoomInfo[]> {
    const names = Object.values(await this.#client.hGetAll(`${this.#prefix}rooms`))
    const rooms = await Promise.all(
      names.map(async (name) => ({ name, members: (await this.members(name)).length })),
    )
    return rooms.filter((room) => room.members > 0).sort((a, b) => a.name.localeCompare(b.name))
  }

  async publish(event: ChatEvent): Promise<void> {
    await this.#client.publish(`${this.#prefix}events`, JSON.stringify(event))
  }

  onEvent(listener: (event: ChatEvent) => void): void {
    this.#listener = listener
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat)
    // What this node still holds counts as absent once its key is gone.
    await this.#client.del(`${this.#prefix}node:${this.id}`).catch(() => {})
    await Promise.allSettled([this.#subscriber.close(), this.#client.close()])
  }

  /** The `<node id> <value>` entries whose node is alive. */
  async #alivePart(entries: string[]): Promise<string[]> {
    if (entries.length === 0) return []
    const owners = [...new Set(entries.map((entry) => entry.slice(0, entry.indexOf(' '))))]
    const alive = await this.#client.mGet(owners.map((owner) => `${this.#prefix}node:${owner}`))
    const live = new Set(owners.filter((_, i) => alive[i] !== null))
    return entries.filter((entry) => live.has(entry.slice(0, entry.indexOf(' '))))
  }
}
