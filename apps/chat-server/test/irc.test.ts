import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type ChatServer, parseIrcLine, startChatServer } from '../src/index.js'
import { ChatClient, cleanup, hasCommand, lineUser } from './helpers.js'

let chat: ChatServer | undefined

afterEach(async () => {
  cleanup()
  await chat?.close()
  chat = undefined
})

async function start(): Promise<{ line: number; irc: number }> {
  chat = await startChatServer({ port: 0, ircPort: 0 })
  const port = (protocol: string) => chat!.listeners.find((l) => l.protocol === protocol)!.address.port
  return { line: port('line'), irc: port('irc') }
}

/** An IRC client registered as `nick`, past the welcome burst. */
async function ircUser(port: number, nick: string): Promise<ChatClient> {
  const client = await ChatClient.connect(port)
  client.send('CAP LS 302', `NICK ${nick}`, `USER ${nick} 0 * :${nick} the tester`, 'CAP END')
  await client.waitFor(/ 422 /)
  return client
}

describe('parseIrcLine', () => {
  it('splits prefix, command, middle parameters and the trailing one', () => {
    expect(parseIrcLine(':nick!u@h PRIVMSG #room :hello there')).toEqual({
      command: 'PRIVMSG',
      params: ['#room', 'hello there'],
    })
    expect(parseIrcLine('user bob 0 * :Bob B')).toEqual({
      command: 'USER',
      params: ['bob', '0', '*', 'Bob B'],
    })
    expect(parseIrcLine('PING')).toEqual({ command: 'PING', params: [] })
    expect(parseIrcLine('PRIVMSG #a ::-)')).toEqual({ command: 'PRIVMSG', params: ['#a', ':-)'] })
  })
})

describe('IRC subset', () => {
  it('registers after CAP negotiation with 001-005 and 422; 451 before, 433 for a taken nick', async () => {
    const { irc } = await start()
    const early = await ChatClient.connect(irc)
    early.send('JOIN #x')
    await early.waitFor(':socketserver.chat 451 * :You have not registered')
    early.send('CAP LS 302', 'NICK alice', 'USER alice 0 * :Alice')
    await early.waitFor(':socketserver.chat CAP * LS :')
    expect(early.lines.some((l) => / 001 /.test(l))).toBe(false) // waits for CAP END
    early.send('CAP END')
    for (const code of ['001', '002', '003', '004', '005', '422'])
      await early.waitFor(new RegExp(`^:socketserver\\.chat ${code} alice `))
    const second = await ChatClient.connect(irc)
    second.send('NICK Alice', 'USER a 0 * :A')
    await second.waitFor(':socketserver.chat 433 * Alice :Nickname is already in use')
    second.send('NICK 1bad')
    await second.waitFor(':socketserver.chat 432 * 1bad :Erroneous nickname')
    second.send('NICK alice2')
    await second.waitFor(/ 001 alice2 /)
  })

  it('joins with NAMES, answers MODE and WHO, relays PRIVMSG to channels and nicks, PARTs', async () => {
    const { irc } = await start()
    const alice = await ircUser(irc, 'alice')
    const bob = await ircUser(irc, 'bob')
    alice.send('JOIN #room')
    await alice.waitFor(/^:alice!alice@\S+ JOIN #room$/)
    await alice.waitFor(':socketserver.chat 353 alice = #room :alice')
    await alice.waitFor(':socketserver.chat 366 alice #room :End of /NAMES list')
    bob.send('JOIN #room', 'MODE #room', 'MODE #room b', 'WHO #room', 'MODE bob +i')
    await bob.waitFor(':socketserver.chat 353 bob = #room :alice bob')
    await bob.waitFor(/ 324 bob #room /)
    await bob.waitFor(/ 368 bob #room /)
    await bob.waitFor(/ 352 bob #room alice /)
    await bob.waitFor(/ 315 bob #room /)
    await bob.waitFor(/ 221 bob /)
    await alice.waitFor(/^:bob!bob@\S+ JOIN #room$/)
    alice.send('PRIVMSG #room :hello channel', 'PRIVMSG bob :hello bob', 'PRIVMSG nobody :hi')
    await bob.waitFor(/^:alice!alice@\S+ PRIVMSG #room :hello channel$/)
    await bob.waitFor(/^:alice!alice@\S+ PRIVMSG bob :hello bob$/)
    await alice.waitFor(':socketserver.chat 401 alice nobody :No such nick/channel')
    bob.send('PART #room :later')
    await bob.waitFor(/^:bob!bob@\S+ PART #room :later$/)
    await alice.waitFor(/^:bob!bob@\S+ PART #room :later$/)
    bob.send('PRIVMSG #room :still?')
    await bob.waitFor(':socketserver.chat 404 bob #room :Cannot send to channel')
  })

  it('answers PING, 421 for unknown commands, and QUIT with ERROR and a QUIT to channel members', async () => {
    const { irc } = await start()
    const alice = await ircUser(irc, 'alice')
    const bob = await ircUser(irc, 'bob')
    alice.send('JOIN #room')
    bob.send('JOIN #room')
    await alice.waitFor(/^:bob!\S+ JOIN #room$/)
    alice.send('PING :token123', 'FROBNICATE x')
    await alice.waitFor(':socketserver.chat PONG socketserver.chat :token123')
    await alice.waitFor(':socketserver.chat 421 alice FROBNICATE :Unknown command')
    bob.send('QUIT :gone fishing')
    await bob.waitFor(/^ERROR :Closing link: \S+ \(Quit: gone fishing\)$/)
    await bob.waitForClose()
    await alice.waitFor(/^:bob!bob@\S+ QUIT :Quit: gone fishing$/)
  })

  it('puts IRC and line-protocol users in the same rooms', async () => {
    const { line, irc } = await start()
    const carol = await lineUser(line, 'carol', 'lobby')
    const dave = await ircUser(irc, 'dave')
    dave.send('JOIN #lobby')
    await dave.waitFor(':socketserver.chat 353 dave = #lobby :carol dave')
    await carol.waitFor('* dave joined #lobby')
    carol.send('hi dave', '/me smiles')
    await dave.waitFor(/^:carol!line@\S+ PRIVMSG #lobby :hi dave$/)
    await dave.waitFor(' PRIVMSG #lobby :\x01ACTION smiles\x01')
    dave.send('PRIVMSG #lobby :\x01ACTION waves\x01', 'PRIVMSG #lobby :\x02bold\x02 words')
    await carol.waitFor('[#lobby] * dave waves')
    await carol.waitFor('[#lobby] <dave> bold words') // formatting codes are not for terminals
  })

  it.skipIf(!hasCommand('ii'))(
    'works with ii, a real IRC client, talking to a line-protocol user',
    async () => {
      const { line, irc } = await start()
      const dir = mkdtempSync(join(tmpdir(), 'chat-ii-'))
      const ii = spawn('ii', ['-s', '127.0.0.1', '-p', String(irc), '-n', 'iiuser', '-i', dir], {
        stdio: 'ignore',
      })
      try {
        const server = join(dir, '127.0.0.1')
        const waitFor = async (check: () => boolean, what: string) => {
          for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 25))
          if (!check()) throw new Error(`ii: no ${what}`)
        }
        const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '')
        await waitFor(
          () => read(join(server, 'out')).includes('Welcome to the socketserver chat iiuser'),
          'welcome',
        )
        const carol = await lineUser(line, 'carol', 'lobby')
        // ii's `in` files are FIFOs: each write is one command or message.
        writeFileSync(join(server, 'in'), '/j #lobby\n')
        await carol.waitFor('* iiuser joined #lobby')
        carol.send('hello ii')
        const channelOut = join(server, '#lobby', 'out')
        await waitFor(() => read(channelOut).includes('<carol> hello ii'), 'message from carol')
        writeFileSync(join(server, '#lobby', 'in'), 'hello carol\n')
        await carol.waitFor('[#lobby] <iiuser> hello carol')
        carol.send('/quit')
        // ii files a QUIT under the server, not the channel.
        await waitFor(
          () => read(join(server, 'out')).includes('carol(line@127.0.0.1) has quit'),
          'quit of carol',
        )
      } finally {
        ii.kill('SIGTERM')
        await new Promise((resolve) => (ii.exitCode === null ? ii.once('close', resolve) : resolve(null)))
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )
})
