/**
 * The chat a person uses with `nc` or `telnet`: plain lines go to the current room, commands start
 * with `/`. Replies from the server start with `* `, errors with `! `, messages with `[#room]` or
 * `[private]`.
 */
import type { ChatEvent } from './bus/types.js'
import { ChatHandler, SocketSession } from './handler.js'
import { MAX_NICK_LENGTH, plain, roomName, sanitize } from './text.js'

export const LINE_HELP = `* commands:
*   /nick NAME          choose or change your nickname
*   /join ROOM          join a room (created if new) and make it your current room
*   /leave [ROOM]       leave a room (default: the current one)
*   /rooms              list the rooms and how many are in each
*   /who [ROOM]         list the members of a room (default: the current one)
*   /whois NICK         whether NICK is online, and the address they connected from
*   /msg NICK TEXT      send TEXT to NICK only
*   /me TEXT            say what you do, in the current room
*   /help               this list
*   /quit [REASON]      leave the chat
* anything else you type goes to your current room.
`

export class LineSession extends SocketSession {
  farewell(reason: string): void {
    this.write(`* closing: ${reason}\n`)
  }

  /** Where plain lines go: the last room joined. */
  current: string | null = null

  deliver(event: ChatEvent): void {
    const nick = event.from.nick
    switch (event.type) {
      case 'message':
        this.write(
          event.action
            ? `[${event.room}] * ${nick} ${plain(event.text)}\n`
            : `[${event.room}] <${nick}> ${plain(event.text)}\n`,
        )
        return
      case 'private':
        this.write(`[private] <${nick}> ${plain(event.text)}\n`)
        return
      case 'join':
        this.write(`* ${nick} joined ${event.room}\n`)
        return
      case 'part':
        this.write(`* ${nick} left ${event.room}${event.reason ? ` (${plain(event.reason)})` : ''}\n`)
        return
      case 'quit':
        this.write(`* ${nick} quit (${plain(event.reason)})\n`)
        return
      case 'nick':
        this.write(`* ${nick} is now known as ${event.nick}\n`)
    }
  }
}

/** The handler of the line protocol; `createChatHandlers()` gives it a node, limits and counters. */
export class LineChatHandler extends ChatHandler<LineSession> {
  protected createSession(): LineSession {
    const host = (this.clientAddress as { address?: string } | null)?.address ?? 'local'
    return new LineSession(this.connection, 'line', host, this.limits.maxOutputBuffer)
  }

  protected greet(): void {
    this.session.write(
      '* welcome to socketserver chat. choose a nickname: type it, or /nick NAME. /help lists commands.\n',
    )
  }

  protected notice(text: string): void {
    this.session.write(`! ${text}\n`)
  }

  protected probe(): void {
    this.session.write('* are you still there? send anything to stay connected.\n')
  }

  protected async command(line: string): Promise<boolean> {
    const session = this.session
    if (!line.startsWith('/')) {
      if (session.nick === null) return this.#nick(line.trim())
      return this.#say(sanitize(line))
    }
    const space = line.indexOf(' ')
    const name = (space < 0 ? line.slice(1) : line.slice(1, space)).toLowerCase()
    const rest = space < 0 ? '' : line.slice(space + 1).trim()
    const [first = '', ...others] = rest.split(/\s+/)
    if (name === 'help') return this.#reply(LINE_HELP)
    if (name === 'quit') {
      this.quitReason = rest ? `quit: ${sanitize(rest)}` : 'quit'
      session.write('* bye\n')
      return false
    }
    if (name === 'nick') return this.#nick(first)
    if (session.nick === null) return this.#error('choose a nickname first: /nick NAME')
    switch (name) {
      case 'join':
        return this.#join(first)
      case 'leave':
      case 'part':
        return this.#leave(first || session.current, others.join(' '))
      case 'rooms':
        return this.#rooms()
      case 'who':
      case 'names':
        return this.#who(first || session.current)
      case 'whois':
        return this.#whois(first)
      case 'msg':
        return this.#tell(first, rest.slice(first.length).trim())
      case 'me':
        return this.#say(sanitize(rest), true)
      default:
        return this.#error(`unknown command /${name}; /help lists commands`)
    }
  }

  #reply(text: string): true {
    this.session.write(text)
    return true
  }

  #error(text: string): true {
    this.notice(text)
    return true
  }

  async #nick(nick: string): Promise<boolean> {
    if (!nick) return this.#error('usage: /nick NAME')
    const result = await this.node.setNick(this.session, nick)
    if (result === 'invalid')
      return this.#error(
        `"${plain(sanitize(nick))}" cannot be a nickname: 1-${MAX_NICK_LENGTH} letters, digits or []\\\`_^{|}-, not starting with a digit or -`,
      )
    if (result === 'taken') return this.#error(`${nick} is taken; choose another`)
    return this.#reply(`* you are now ${nick}. /join ROOM to start talking, /help for more.\n`)
  }

  async #join(name: string): Promise<boolean> {
    const room = roomName(name)
    if (room === null) return this.#error('usage: /join ROOM (1-32 characters, no spaces or commas)')
    const members = await this.node.join(this.session, room)
    this.session.current = this.session.rooms.get(room.toLowerCase()) ?? room
    return this.#reply(`* you joined ${this.session.current}; members: ${members.join(', ')}\n`)
  }

  async #leave(name: string | null, reason: string): Promise<boolean> {
    const room = name ? roomName(name) : null
    if (room === null) return this.#error('usage: /leave ROOM')
    if (!(await this.node.part(this.session, room, sanitize(reason))))
      return this.#error(`you are not in ${room}`)
    const session = this.session
    if (session.current?.toLowerCase() === room.toLowerCase())
      session.current = [...session.rooms.values()].at(-1) ?? null
    return this.#reply(`* you left ${room}${session.current ? `; now talking in ${session.current}` : ''}\n`)
  }

  async #rooms(): Promise<boolean> {
    const rooms = await this.node.rooms()
    if (rooms.length === 0) return this.#reply('* no rooms yet: /join NAME creates one\n')
    return this.#reply(`* rooms: ${rooms.map(({ name, members }) => `${name} (${members})`).join(', ')}\n`)
  }

  async #who(name: string | null): Promise<boolean> {
    const room = name ? roomName(name) : null
    if (room === null) return this.#error('usage: /who ROOM')
    const members = await this.node.members(room)
    if (members.length === 0) return this.#error(`no one is in ${room}`)
    return this.#reply(`* ${room}: ${members.join(', ')}\n`)
  }

  async #whois(nick: string): Promise<boolean> {
    if (!nick) return this.#error('usage: /whois NICK')
    if (!(await this.node.isOnline(nick))) return this.#error(`no one called ${nick} is online`)
    const host = this.node.hostOf(nick)
    return this.#reply(`* ${nick} is online${host ? ` from ${host}` : ''}\n`)
  }

  async #tell(nick: string, text: string): Promise<boolean> {
    if (!nick || !text) return this.#error('usage: /msg NICK TEXT')
    if (!(await this.node.tell(this.session, nick, sanitize(text))))
      return this.#error(`no one called ${nick} is online`)
    this.stats.messages++
    return this.#reply(`* to ${nick}: ${plain(sanitize(text))}\n`)
  }

  async #say(text: string, action = false): Promise<boolean> {
    const room = this.session.current
    if (room === null) return this.#error('join a room first: /join ROOM')
    if (text.trim() === '') return true
    await this.node.say(this.session, room, text, action)
    this.stats.messages++
    return true
  }
}
