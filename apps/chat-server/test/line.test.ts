import { spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { type ChatServer, type ChatServerOptions, startChatServer } from '../src/index.js'
import { ChatClient, cleanup, hasCommand, lineUser } from './helpers.js'

let chat: ChatServer | undefined

afterEach(async () => {
  cleanup()
  await chat?.close()
  chat = undefined
})

async function start(options: ChatServerOptions = {}): Promise<number> {
  chat = await startChatServer({ port: 0, ircPort: null, ...options })
  return chat.listeners[0]!.address.port
}

describe('line protocol', () => {
  it('greets, registers a nickname, and refuses a taken or invalid one', async () => {
    const port = await start()
    const alice = await ChatClient.connect(port)
    await alice.waitFor('choose a nickname')
    alice.send('alice')
    await alice.waitFor('you are now alice')
    const other = await ChatClient.connect(port)
    other.send('ALICE', '9lives', '/nick bob')
    await other.waitFor('! ALICE is taken')
    await other.waitFor('"9lives" cannot be a nickname')
    await other.waitFor('you are now bob')
  })

  it('relays room messages to the other members only, and private messages to one user', async () => {
    const port = await start()
    const alice = await lineUser(port, 'alice', 'lobby')
    const bob = await lineUser(port, 'bob', 'lobby')
    const carol = await lineUser(port, 'carol', 'elsewhere')
    await alice.waitFor('* bob joined #lobby')
    alice.send('hello room', '/me waves', '/msg carol just you')
    await bob.waitFor('[#lobby] <alice> hello room')
    await bob.waitFor('[#lobby] * alice waves')
    await carol.waitFor('[private] <alice> just you')
    await alice.waitFor('* to carol: just you')
    bob.send('/who')
    await bob.waitFor('* #lobby: alice, bob')
    bob.send('/rooms')
    await bob.waitFor('* rooms: #elsewhere (1), #lobby (2)')
    // What went where: nobody got their own line, carol got nothing of #lobby.
    expect(alice.lines.filter((l) => l.includes('hello room'))).toEqual([])
    expect(carol.lines.filter((l) => l.includes('#lobby'))).toEqual([])
    expect(bob.lines.filter((l) => l.includes('just you'))).toEqual([])
  })

  it('tells the room when someone leaves or quits, and frees the nickname', async () => {
    const port = await start()
    const alice = await lineUser(port, 'alice', 'lobby')
    const bob = await lineUser(port, 'bob', 'lobby')
    bob.send('/leave lobby going')
    await alice.waitFor('* bob left #lobby (going)')
    await bob.waitFor('* you left #lobby')
    bob.send('/join lobby')
    await alice.waitFor(/\* bob joined #lobby/)
    bob.send('/quit done for today')
    await bob.waitFor('* bye')
    await bob.waitForClose()
    await alice.waitFor('* bob quit (quit: done for today)')
    const again = await lineUser(port, 'bob')
    expect(again.lines).toContain('* you are now bob. /join ROOM to start talking, /help for more.')
  })

  it('renames a user: the rooms see the new name, the old one is free again', async () => {
    const port = await start()
    const alice = await lineUser(port, 'alice', 'lobby')
    const bob = await lineUser(port, 'bob', 'lobby')
    bob.send('/nick robert')
    await bob.waitFor('* you are now robert')
    await alice.waitFor('* bob is now known as robert')
    bob.send('after the rename')
    await alice.waitFor('[#lobby] <robert> after the rename')
    alice.send('/who')
    await alice.waitFor('* #lobby: alice, robert')
    await lineUser(port, 'bob')
  })

  it('explains errors: unknown commands, no room, no such user, usage', async () => {
    const port = await start()
    const alice = await lineUser(port, 'alice')
    alice.send('hello?', '/bogus', '/msg nobody hi', '/join', '/help')
    await alice.waitFor('! join a room first: /join ROOM')
    await alice.waitFor('! unknown command /bogus; /help lists commands')
    await alice.waitFor('! no one called nobody is online')
    await alice.waitFor('! usage: /join ROOM')
    await alice.waitFor('*   /quit [REASON]      leave the chat')
  })

  it('drops invalid UTF-8 with a notice and strips terminal control sequences from messages', async () => {
    const port = await start()
    const alice = await lineUser(port, 'alice', 'lobby')
    const bob = await lineUser(port, 'bob', 'lobby')
    alice.socket.write(Buffer.from([0xff, 0xfe, 0x0a]))
    await alice.waitFor('! that line was not valid UTF-8 and was ignored')
    alice.socket.write('\x1b[2Jclear\x07 screen\tplease\n')
    await bob.waitFor('[#lobby] <alice> [2Jclear screen please')
    expect([...bob.lines.join('')].filter((c) => c < ' ' || c === '\x7f')).toEqual([])
    expect(chat!.stats.invalidLines).toBe(1)
  })

  it('closes a connection that sends a line over maxLineLength, and the others go on', async () => {
    const port = await start({ limits: { maxLineLength: 64 } })
    const alice = await lineUser(port, 'alice', 'lobby')
    const bob = await lineUser(port, 'bob', 'lobby')
    alice.socket.write('x'.repeat(10_000))
    await alice.waitFor('* closing: line too long')
    await alice.waitForClose()
    await bob.waitFor('* alice quit (line too long)')
    expect(chat!.stats.longLines).toBe(1)
    const carol = await lineUser(port, 'carol', 'lobby')
    carol.send('still here')
    await bob.waitFor('[#lobby] <carol> still here')
  })

  it('drops lines past the rate limit with one notice a second', async () => {
    const port = await start({ limits: { messageRate: 1, messageBurst: 3 } })
    const alice = await lineUser(port, 'alice', 'lobby') // two lines of the burst
    const bob = await lineUser(port, 'bob', 'lobby')
    alice.send(...Array.from({ length: 10 }, (_, i) => `flood ${i}`))
    await alice.waitFor('! slow down: at most 1 lines a second')
    await bob.waitFor('<alice> flood 0')
    // Only what the bucket held got through; the rest were counted, not relayed.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const relayed = bob.lines.filter((l) => l.includes('<alice> flood')).length
    expect(relayed).toBeGreaterThanOrEqual(1)
    expect(relayed).toBeLessThan(10)
    expect(chat!.stats.rateLimited).toBe(10 - relayed)
    expect(alice.lines.filter((l) => l.startsWith('! slow down'))).toHaveLength(1)
  })

  it.skipIf(!hasCommand('python3'))(
    'disconnects a client that never reads once its output passes maxOutputBuffer; the others are served',
    async () => {
      const port = await start({ limits: { messageRate: 1e6, messageBurst: 1e6 } })
      // A small receive buffer (which also stops the kernel growing it) so that what the client does
      // not read backs up into the server within a few megabytes.
      const script = `
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'sleeper\\n/join lobby\\n')
time.sleep(60)
`
      const sleeper = spawn('python3', ['-c', script, String(port)], { stdio: 'ignore' })
      try {
        const talker = await lineUser(port, 'talker', 'lobby')
        const listener = await lineUser(port, 'listener', 'lobby')
        await talker.waitFor('* sleeper joined #lobby')
        const text = 'y'.repeat(1000)
        const count = 8000 // 8 MB: more than the server's kernel send buffer can take (4 MB here)
        // In batches the listener reads before the next: a client that keeps up is never near the limit.
        for (let i = 0; i < count; i += 50) {
          talker.send(...Array.from({ length: 50 }, (_, j) => `${i + j} ${text}`))
          await listener.waitFor(new RegExp(`^\\[#lobby\\] <talker> ${i + 49} `))
        }
        await talker.waitFor('* sleeper quit (not reading (output queue full))', 20_000)
        await listener.waitFor(new RegExp(`^\\[#lobby\\] <talker> ${count - 1} `), 20_000)
        expect(chat!.stats.slowConsumers).toBe(1)
        // The listener got every line, in order.
        const seen = listener.lines
          .filter((l) => l.startsWith('[#lobby] <talker>'))
          .map((l) => Number(l.split(' ')[2]))
        expect(seen).toEqual(Array.from({ length: count }, (_, i) => i))
      } finally {
        sleeper.kill('SIGKILL')
      }
    },
  )

  it('asks a silent client whether it is there, then disconnects it', async () => {
    const port = await start({ limits: { idleTimeout: 200 } })
    const alice = await lineUser(port, 'alice', 'lobby')
    const bob = await lineUser(port, 'bob', 'lobby')
    const keepAlive = setInterval(() => bob.send('/rooms'), 100)
    try {
      await alice.waitFor('* are you still there?')
      await alice.waitFor('* closing: idle timeout')
      await alice.waitForClose()
      await bob.waitFor('* alice quit (idle timeout)')
    } finally {
      clearInterval(keepAlive)
    }
    expect(bob.closed).toBe(false)
    expect(chat!.stats.idleClosed).toBe(1)
  })

  it('tells every user when the server shuts down', async () => {
    const port = await start()
    const alice = await lineUser(port, 'alice', 'lobby')
    const result = await chat!.shutdownGracefully({ timeout: 2_000 })
    chat = undefined
    expect(result.disconnected).toBe(1)
    await alice.waitFor('* closing: server shutting down')
    await alice.waitForClose()
  })

  it.skipIf(!hasCommand('nc'))('works with nc as the client', async () => {
    const port = await start()
    const bob = await lineUser(port, 'bob', 'lobby')
    // nc sends its stdin and prints what the server says; -q1 quits a second after stdin ends.
    const nc = spawn('nc', ['-q', '1', '127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'inherit'] })
    let out = ''
    nc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    nc.stdin.write('ncuser\n/join lobby\n')
    await bob.waitFor('* ncuser joined #lobby')
    nc.stdin.end('hello from nc\n')
    await bob.waitFor('[#lobby] <ncuser> hello from nc')
    bob.send('hi nc')
    await new Promise((resolve) => nc.once('close', resolve))
    expect(out).toContain('* you are now ncuser')
    expect(out).toContain('* you joined #lobby; members: bob, ncuser')
  })

  it.skipIf(!hasCommand('python3'))("works with Python's socket as the client", async () => {
    const port = await start()
    const bob = await lineUser(port, 'bob', 'lobby')
    const script = `
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
f = s.makefile('rwb')
f.write(b'py\\n/join lobby\\n'); f.flush()
while b'joined' not in f.readline(): pass
f.write(b'hello from python\\n'); f.flush()
while True:
    line = f.readline()
    if not line or b'<bob>' in line: break
print(line.decode().strip())
`
    const py = spawn('python3', ['-c', script, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    py.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    await bob.waitFor('[#lobby] <py> hello from python')
    bob.send('hello python')
    await new Promise((resolve) => py.once('close', resolve))
    expect(out.trim()).toBe('[#lobby] <bob> hello python')
  })
})
