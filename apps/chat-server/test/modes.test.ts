import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  ChatClient,
  type ChatProcess,
  cleanup,
  hasCommand,
  lineUser,
  startCli,
  startRedis,
} from './helpers.js'

afterEach(cleanup)

/** Users on `lines` (ports of one or several servers, round robin) in one room, seeing each other. */
async function checkSharedChat(linePorts: number[], ircPort: number | null): Promise<void> {
  const users: ChatClient[] = []
  for (
    let i = 0;
    i < 4;
    i++ // Generous waits: the first request to a pool waits for its workers to start and connect.
  )
    users.push(await lineUser(linePorts[i % linePorts.length]!, `u${i}`, 'lobby', 20_000))
  // A nickname is taken once across every worker and process.
  const twin = await ChatClient.connect(linePorts.at(-1)!)
  twin.send('u0')
  await twin.waitFor('! u0 is taken', 20_000)
  users[0]!.send('hello from u0')
  for (const user of users.slice(1)) await user.waitFor('[#lobby] <u0> hello from u0')
  users[3]!.send('/msg u0 psst', '/who')
  await users[0]!.waitFor('[private] <u3> psst')
  await users[3]!.waitFor('* #lobby: u0, u1, u2, u3')
  if (ircPort !== null) {
    const irc = await ChatClient.connect(ircPort)
    irc.send('NICK ircer', 'USER ircer 0 * :I', 'JOIN #lobby')
    await irc.waitFor(/ 353 ircer = #lobby :(\S+ ){4}\S+$/, 20_000)
    users[1]!.send('hi irc')
    await irc.waitFor(/^:u1!line@\S+ PRIVMSG #lobby :hi irc$/)
  }
  users[2]!.send('/quit')
  for (const user of [users[0]!, users[1]!, users[3]!]) await user.waitFor('* u2 quit (quit)')
  // Nothing arrived twice.
  for (const user of users.slice(1))
    expect(user.lines.filter((l) => l.includes('hello from u0'))).toHaveLength(1)
}

async function stop(chat: ChatProcess): Promise<void> {
  chat.child.kill('SIGTERM')
  const { code } = await chat.waitForExit()
  expect(code).toBe(0)
  expect(chat.stdout()).toMatch(/chat: stopped: /)
}

describe.each(['thread', 'fork'])('%s mode, in-process bus (the server hub)', (mode) => {
  it('shares nicknames, rooms and messages between users on different workers', async () => {
    const chat = await startCli(['--port', '0', '--irc-port', '0', '--mode', mode, '--workers', '2'])
    await checkSharedChat([chat.linePort], chat.ircPort)
    await stop(chat)
  })
})

describe.skipIf(!hasCommand('redis-server') && !process.env.REDIS_URL)('Redis bus', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(() => redis?.stop())

  it.each(['event-loop', 'thread', 'fork'])('two %s chat servers on one Redis are one chat', async (mode) => {
    const prefix = `test-${randomBytes(4).toString('hex')}:`
    const args = ['--port', '0', '--irc-port', '0', '--mode', mode, '--workers', '2']
    const bus = ['--bus', redis.url, '--redis-prefix', prefix]
    const [one, two] = await Promise.all([startCli([...args, ...bus]), startCli([...args, ...bus])])
    await checkSharedChat([one.linePort, two.linePort], two.ircPort)
    await Promise.all([stop(one), stop(two)])
  })
})
