/**
 * The subset of IRC (RFC 1459 / 2812, with IRCv3 CAP) that real clients need to register, join a
 * channel and talk: rooms are channels, and line-protocol users appear as ordinary nicknames.
 */
import type { ChatEvent, Sender } from './bus/types.js'
import { ChatHandler, SocketSession } from './handler.js'
import { fold, MAX_NICK_LENGTH, roomName, sanitize } from './text.js'

const VERSION = 'socketserver-chat-1'
export const DEFAULT_SERVER_NAME = 'socketserver.chat'
const STARTED = new Date().toUTCString()

function prefix({ nick, user, host }: Sender): string {
  return `${nick}!${user}@${host}`
}

/** `[:prefix] COMMAND params [:trailing]` → command and parameters (the trailing one last). */
export function parseIrcLine(line: string): { command: string; params: string[] } {
  let rest = line.trimStart()
  if (rest.startsWith(':')) {
    const space = rest.indexOf(' ')
    rest = space < 0 ? '' : rest.slice(space + 1).trimStart()
  }
  const params: string[] = []
  const trailing = rest.indexOf(' :')
  const head = trailing < 0 ? rest : rest.slice(0, trailing)
  const words = head.split(' ').filter(Boolean)
  if (trailing >= 0) words.push(rest.slice(trailing + 2))
  const command = (words.shift() ?? '').toUpperCase()
  params.push(...words)
  return { command, params }
}

export class IrcSession extends SocketSession {
  realname = ''

  send(line: string): void {
    this.write(`${line}\r\n`)
  }

  farewell(reason: string): void {
    this.send(`ERROR :Closing link: ${this.host} (${reason})`)
  }

  deliver(event: ChatEvent): void {
    const from = prefix(event.from)
    switch (event.type) {
      case 'message':
        this.send(
          `:${from} PRIVMSG ${event.room} :${event.action ? `\x01ACTION ${event.text}\x01` : event.text}`,
        )
        return
      case 'private':
        this.send(`:${from} PRIVMSG ${event.to} :${event.text}`)
        return
      case 'join':
        this.send(`:${from} JOIN ${event.room}`)
        return
      case 'part':
        this.send(`:${from} PART ${event.room}${event.reason ? ` :${event.reason}` : ''}`)
        return
      case 'quit':
        this.send(`:${from} QUIT :${event.reason}`)
        return
      case 'nick':
        this.send(`:${from} NICK :${event.nick}`)
    }
  }
}

/** The handler of the IRC port; `createChatHandlers()` gives it a node, limits and counters. */
export class IrcChatHandler extends ChatHandler<IrcSession> {
  /** The server's name in replies. Default: `socketserver.chat`. */
  serverName = DEFAULT_SERVER_NAME
  #user: string | null = null
  #pendingNick: string | null = null
  #capNegotiating = false
  #registered = false

  protected createSession(): IrcSession {
    const host = (this.clientAddress as { address?: string } | null)?.address ?? 'local'
    return new IrcSession(this.connection, 'irc', host, this.limits.maxOutputBuffer)
  }

  protected greet(): void {
    this.session.send(`:${this.serverName} NOTICE * :*** socketserver chat: register with NICK and USER`)
  }

  protected notice(text: string): void {
    this.session.send(`:${this.serverName} NOTICE ${this.session.nick ?? '*'} :${text}`)
  }

  protected probe(): void {
    this.session.send(`PING :${this.serverName}`)
  }

  /** A numeric reply to this client. */
  #numeric(code: string, ...params: string[]): true {
    const last = params.length - 1
    const text = params.map((p, i) => (i === last ? `:${p}` : p)).join(' ')
    this.session.send(`:${this.serverName} ${code} ${this.session.nick ?? '*'} ${text}`)
    return true
  }

  protected async command(line: string): Promise<boolean> {
    const { command, params } = parseIrcLine(line)
    switch (command) {
      case 'CAP':
        return this.#cap(params)
      case 'PASS':
        return true
      case 'NICK':
        return this.#nick(params[0])
      case 'USER':
        return this.#userCommand(params)
      case 'PING':
        this.session.send(`:${this.serverName} PONG ${this.serverName} :${params[0] ?? ''}`)
        return true
      case 'PONG':
        return true
      case 'QUIT':
        this.quitReason = params[0] ? `Quit: ${sanitize(params[0])}` : 'Quit'
        this.session.farewell(this.quitReason)
        return false
    }
    if (!this.#registered) return this.#numeric('451', 'You have not registered')
    switch (command) {
      case 'JOIN':
        return this.#join(params[0])
      case 'PART':
        return this.#part(params[0], params[1] ?? '')
      case 'PRIVMSG':
      case 'NOTICE':
        return this.#privmsg(params[0], params[1], command === 'NOTICE')
      case 'NAMES':
        return this.#names(params[0])
      case 'WHO':
        return this.#who(params[0])
      case 'MODE':
        return this.#mode(params)
      case 'TOPIC':
        return params[0] ? this.#numeric('331', params[0], 'No topic is set') : this.#needMore('TOPIC')
      case 'LIST':
        return this.#list()
      case 'WHOIS':
        return this.#whois(params.at(-1))
      default:
        return this.#numeric('421', command || '?', 'Unknown command')
    }
  }

  #needMore(command: string): true {
    return this.#numeric('461', command, 'Not enough parameters')
  }

  #cap([sub = '', arg = '']: string[]): true | Promise<boolean> {
    switch (sub.toUpperCase()) {
      case 'LS':
        if (!this.#registered) this.#capNegotiating = true
        this.session.send(`:${this.serverName} CAP ${this.session.nick ?? '*'} LS :`)
        return true
      case 'LIST':
        this.session.send(`:${this.serverName} CAP ${this.session.nick ?? '*'} LIST :`)
        return true
      case 'REQ':
        this.session.send(`:${this.serverName} CAP ${this.session.nick ?? '*'} NAK :${arg}`)
        return true
      case 'END':
        this.#capNegotiating = false
        return this.#register()
    }
    return this.#numeric('410', sub, 'Invalid CAP command')
  }

  async #nick(nick: string | undefined): Promise<boolean> {
    if (!nick) return this.#numeric('431', 'No nickname given')
    if (!this.#registered) {
      this.#pendingNick = nick
      return this.#register()
    }
    const old = this.session.sender
    const result = await this.node.setNick(this.session, nick)
    if (result === 'invalid') return this.#numeric('432', nick, 'Erroneous nickname')
    if (result === 'taken') return this.#numeric('433', nick, 'Nickname is already in use')
    this.session.send(`:${prefix(old)} NICK :${nick}`)
    return true
  }

  async #userCommand(params: string[]): Promise<boolean> {
    if (this.#registered) return this.#numeric('462', 'You may not reregister')
    if (params.length < 4) return this.#needMore('USER')
    this.#user = params[0]!.replace(/[^\w.-]/g, '').slice(0, 10) || 'user'
    this.session.realname = sanitize(params[3]!)
    return this.#register()
  }

  /** Completes registration once NICK and USER have come and capability negotiation is over. */
  async #register(): Promise<boolean> {
    const nick = this.#pendingNick
    if (this.#registered || this.#capNegotiating || nick === null || this.#user === null) return true
    const result = await this.node.setNick(this.session, nick)
    if (result !== 'ok') {
      this.#pendingNick = null
      return result === 'invalid'
        ? this.#numeric('432', nick, 'Erroneous nickname')
        : this.#numeric('433', nick, 'Nickname is already in use')
    }
    this.session.user = this.#user
    this.#registered = true
    const s = this.serverName
    this.#numeric('001', `Welcome to the socketserver chat ${prefix(this.session.sender)}`)
    this.#numeric('002', `Your host is ${s}, running version ${VERSION}`)
    this.#numeric('003', `This server was created ${STARTED}`)
    this.session.send(`:${s} 004 ${nick} ${s} ${VERSION} i nt`)
    this.session.send(
      `:${s} 005 ${nick} CASEMAPPING=ascii CHANTYPES=# NICKLEN=${MAX_NICK_LENGTH} CHANNELLEN=33 PREFIX=() NETWORK=socketserver :are supported by this server`,
    )
    return this.#numeric('422', 'MOTD File is missing')
  }

  async #join(list: string | undefined): Promise<boolean> {
    if (!list) return this.#needMore('JOIN')
    if (list === '0') {
      for (const room of [...this.session.rooms.values()]) await this.#part(room, '')
      return true
    }
    for (const name of list.split(',')) {
      const room = name.startsWith('#') ? roomName(name) : null
      if (room === null) {
        this.#numeric('403', name, 'No such channel')
        continue
      }
      const members = await this.node.join(this.session, room)
      const joined = this.session.rooms.get(fold(room)) ?? room
      this.session.send(`:${prefix(this.session.sender)} JOIN ${joined}`)
      this.#namesReply(joined, members)
    }
    return true
  }

  #namesReply(room: string, members: string[]): void {
    // Long member lists are split so that no line passes IRC's 512 bytes.
    for (let i = 0; i < members.length; i += 30)
      this.#numeric('353', '=', room, members.slice(i, i + 30).join(' '))
    this.#numeric('366', room, 'End of /NAMES list')
  }

  async #part(list: string | undefined, reason: string): Promise<boolean> {
    if (!list) return this.#needMore('PART')
    for (const name of list.split(',')) {
      const joined = this.session.rooms.get(fold(name))
      if (joined === undefined || !(await this.node.part(this.session, joined, sanitize(reason)))) {
        this.#numeric('442', name, "You're not on that channel")
        continue
      }
      this.session.send(
        `:${prefix(this.session.sender)} PART ${joined}${reason ? ` :${sanitize(reason)}` : ''}`,
      )
    }
    return true
  }

  async #privmsg(target: string | undefined, text: string | undefined, quiet: boolean): Promise<boolean> {
    if (!target) return quiet || this.#numeric('411', 'No recipient given (PRIVMSG)')
    if (!text) return quiet || this.#numeric('412', 'No text to send')
    let clean = sanitize(text)
    const action = clean.startsWith('\x01ACTION ') && clean.endsWith('\x01')
    if (action) clean = clean.slice(8, -1)
    if (target.startsWith('#')) {
      if (!(await this.node.say(this.session, target, clean, action)))
        return quiet || this.#numeric('404', target, 'Cannot send to channel')
    } else if (!(await this.node.tell(this.session, target, action ? `\x01ACTION ${clean}\x01` : clean))) {
      return quiet || this.#numeric('401', target, 'No such nick/channel')
    }
    this.stats.messages++
    return true
  }

  async #names(list: string | undefined): Promise<boolean> {
    for (const name of (list ?? '').split(',').filter(Boolean)) {
      const room = roomName(name)
      if (room) this.#namesReply(room, await this.node.members(room))
    }
    return true
  }

  async #who(mask: string | undefined): Promise<boolean> {
    if (mask?.startsWith('#')) {
      for (const nick of await this.node.members(mask))
        this.#numeric(
          '352',
          mask,
          nick,
          this.node.hostOf(nick) ?? 'chat',
          this.serverName,
          nick,
          'H',
          `0 ${nick}`,
        )
    }
    return this.#numeric('315', mask ?? '*', 'End of WHO list')
  }

  #mode([target, modes]: string[]): true {
    if (!target) return this.#needMore('MODE')
    if (!target.startsWith('#')) {
      return fold(target) === fold(this.session.nick ?? '')
        ? this.#numeric('221', '+')
        : this.#numeric('502', "Can't change mode for other users")
    }
    if (!modes) return this.#numeric('324', target, '+')
    if (modes === 'b' || modes === '+b') return this.#numeric('368', target, 'End of channel ban list')
    return this.#numeric('482', target, "You're not channel operator")
  }

  async #list(): Promise<boolean> {
    this.#numeric('321', 'Channel', 'Users  Name')
    for (const { name, members } of await this.node.rooms()) this.#numeric('322', name, String(members), '')
    return this.#numeric('323', 'End of /LIST')
  }

  async #whois(nick: string | undefined): Promise<boolean> {
    if (!nick) return this.#numeric('431', 'No nickname given')
    if (await this.node.isOnline(nick))
      this.#numeric('311', nick, 'chat', this.node.hostOf(nick) ?? this.serverName, '*', nick)
    else this.#numeric('401', nick, 'No such nick/channel')
    return this.#numeric('318', nick, 'End of /WHOIS list')
  }
}
