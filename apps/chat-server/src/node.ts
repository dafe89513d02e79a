import type { ChatBus, ChatEvent, RoomInfo, Sender } from './bus/types.js'
import { fold, isValidNick } from './text.js'

/**
 * One user's connection as the node sees it, whatever the protocol: its nickname, its rooms, and how
 * an event reaches it. Protocol handlers subclass it to format events.
 */
export abstract class Session {
  nick: string | null = null
  /** Folded room → room name. */
  readonly rooms = new Map<string, string>()

  constructor(
    /** IRC's user name (from `USER`); shown in prefixes. */
    public user: string,
    readonly host: string,
  ) {}

  get sender(): Sender {
    return { nick: this.nick ?? '*', user: this.user, host: this.host }
  }

  /** Shows `event` to this user: it comes from someone else (a user's own actions are answered directly). */
  abstract deliver(event: ChatEvent): void

  /** Says why and closes the connection; the handler then leaves the chat for the user. */
  abstract disconnect(reason: string): void
}

export type RegisterResult = 'ok' | 'invalid' | 'taken'

/**
 * The users one node (a process, a worker thread or a child process) holds, and the chat operations
 * on them. What other nodes must know goes through the bus; every event comes back from the bus, in
 * its single order, and is delivered here to the local users it concerns, exactly once each.
 */
export class ChatNode {
  /** Folded nickname → session, for users registered here. */
  readonly #users = new Map<string, Session>()
  /** Folded room → this node's members of it. */
  readonly #rooms = new Map<string, Set<Session>>()
  /**
   * Folded nickname → the address a user connected from, as the bus's events show it: what WHO and
   * WHOIS say of users on other nodes (the bus state keeps nicknames only). Behind a load balancer
   * with `proxyProtocol`, the original client's address.
   */
  readonly #hosts = new Map<string, string>()

  constructor(readonly bus: ChatBus) {
    bus.onEvent((event) => this.#deliver(event))
  }

  /** Users registered on this node. */
  get users(): number {
    return this.#users.size
  }

  /** Takes `nick` for `session` (a first registration or IRC's NICK change). */
  async setNick(session: Session, nick: string): Promise<RegisterResult> {
    if (!isValidNick(nick)) return 'invalid'
    const old = session.nick
    if (old !== null && fold(old) === fold(nick)) {
      if (old === nick) return 'ok'
    } else if (!(await this.bus.claimNick(nick))) return 'taken'
    session.nick = nick
    this.#users.set(fold(nick), session)
    if (old === null) return 'ok'
    if (fold(old) !== fold(nick)) {
      this.#users.delete(fold(old))
      await this.bus.releaseNick(old)
    }
    const rooms = [...session.rooms.values()]
    for (const room of rooms) {
      await this.bus.part(room, old)
      await this.bus.join(room, nick)
    }
    await this.bus.publish({ type: 'nick', from: { ...session.sender, nick: old }, nick, rooms })
    return 'ok'
  }

  /** Adds `session` to `room` (created if new) and tells its members; resolves with the members. */
  async join(session: Session, room: string): Promise<string[]> {
    const key = fold(room)
    if (!session.rooms.has(key)) {
      session.rooms.set(key, room)
      let local = this.#rooms.get(key)
      if (!local) this.#rooms.set(key, (local = new Set()))
      local.add(session)
      await this.bus.join(room, session.nick!)
      await this.bus.publish({ type: 'join', from: session.sender, room })
    }
    return this.bus.members(room)
  }

  /** Takes `session` out of `room`; false if it was not in it. */
  async part(session: Session, room: string, reason = ''): Promise<boolean> {
    const key = fold(room)
    const name = session.rooms.get(key)
    if (name === undefined) return false
    this.#leaveLocally(session, key)
    await this.bus.part(name, session.nick!)
    await this.bus.publish({ type: 'part', from: session.sender, room: name, reason })
    return true
  }

  /** Sends `text` to `room`, which `session` must be in (false if not). */
  async say(session: Session, room: string, text: string, action = false): Promise<boolean> {
    const name = session.rooms.get(fold(room))
    if (name === undefined) return false
    await this.bus.publish({
      type: 'message',
      from: session.sender,
      room: name,
      text,
      ...(action && { action }),
    })
    return true
  }

  /** Sends `text` to the user `nick`; false if no one by that name is online. */
  async tell(session: Session, nick: string, text: string): Promise<boolean> {
    if (!(await this.bus.isOnline(nick))) return false
    await this.bus.publish({ type: 'private', from: session.sender, to: nick, text })
    return true
  }

  /** Ends `session`: leaves its rooms and frees its nickname, telling those who shared a room. */
  async quit(session: Session, reason: string): Promise<void> {
    const nick = session.nick
    if (nick === null) return
    const rooms = [...session.rooms.values()]
    for (const key of [...session.rooms.keys()]) this.#leaveLocally(session, key)
    this.#users.delete(fold(nick))
    session.nick = null
    for (const room of rooms) await this.bus.part(room, nick)
    await this.bus.releaseNick(nick)
    await this.bus.publish({ type: 'quit', from: { ...session.sender, nick }, rooms, reason })
  }

  members(room: string): Promise<string[]> {
    return this.bus.members(room)
  }

  rooms(): Promise<RoomInfo[]> {
    return this.bus.rooms()
  }

  isOnline(nick: string): Promise<boolean> {
    return this.bus.isOnline(nick)
  }

  /** Where `nick` connected from: a user of this node, or one whose events this node has seen. */
  hostOf(nick: string): string | undefined {
    return this.#users.get(fold(nick))?.host ?? this.#hosts.get(fold(nick))
  }

  /** Disconnects every user of this node (server shutdown); their handlers publish the quits. */
  disconnectAll(reason: string): number {
    const sessions = [...this.#users.values()]
    for (const session of sessions) session.disconnect(reason)
    return sessions.length
  }

  #leaveLocally(session: Session, key: string): void {
    session.rooms.delete(key)
    const local = this.#rooms.get(key)
    local?.delete(session)
    if (local?.size === 0) this.#rooms.delete(key)
  }

  #deliver(event: ChatEvent): void {
    const from = fold(event.from.nick)
    if (event.type === 'quit' || event.type === 'nick') this.#hosts.delete(from)
    if (event.type !== 'quit')
      this.#hosts.set(event.type === 'nick' ? fold(event.nick) : from, event.from.host)
    switch (event.type) {
      case 'message':
      case 'join':
      case 'part':
        for (const session of this.#rooms.get(fold(event.room)) ?? []) {
          if (session.nick !== null && fold(session.nick) !== from) session.deliver(event)
        }
        return
      case 'private':
        this.#users.get(fold(event.to))?.deliver(event)
        return
      case 'quit':
      case 'nick': {
        // Everyone who shared at least one of the rooms, once.
        const told = new Set<Session>()
        for (const room of event.rooms) {
          for (const session of this.#rooms.get(fold(room)) ?? []) {
            if (told.has(session) || session.nick === null) continue
            if (fold(session.nick) === from || (event.type === 'nick' && session.nick === event.nick))
              continue
            told.add(session)
            session.deliver(event)
          }
        }
      }
    }
  }
}
