import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type ChatBus,
  type ChatEvent,
  type ChatHub,
  HubBus,
  MemoryChatState,
  RedisBus,
  startChatHub,
} from '../src/bus/index.js'
import { decodeLine, isValidNick, plain, roomName, sanitize } from '../src/text.js'
import { hasCommand, startRedis } from './helpers.js'

describe('names and text', () => {
  it('accepts IRC nicknames and rooms, with or without #', () => {
    expect(['alice', 'Bob_2', '[x]', '`q', 'a'.repeat(16)].filter(isValidNick)).toHaveLength(5)
    expect(['', '9lives', '-x', 'a b', 'a'.repeat(17), 'é'].filter(isValidNick)).toEqual([])
    expect(roomName('lobby')).toBe('#lobby')
    expect(roomName('#Lobby')).toBe('#Lobby')
    expect([roomName('a,b'), roomName('a b'), roomName(''), roomName('#'), roomName('x'.repeat(33))]).toEqual(
      [null, null, null, null, null],
    )
  })

  it('decodes a line without its ending, and refuses invalid UTF-8', () => {
    expect(decodeLine(Buffer.from('héllo\r\n'))).toBe('héllo')
    expect(decodeLine(Buffer.from('x\n'))).toBe('x')
    expect(decodeLine(Buffer.from([0x61, 0xc3, 0x28, 0x0a]))).toBeNull()
  })

  it('keeps IRC formatting for IRC, removes it for terminals, and removes what drives a terminal', () => {
    expect(sanitize('a\tb\x1b[31mred\x00\x07')).toBe('a b[31mred')
    expect(sanitize('\x02bold\x02 \x01ACTION x\x01')).toBe('\x02bold\x02 \x01ACTION x\x01')
    expect(plain('\x02bold\x02 \x0304red')).toBe('bold 04red')
  })
})

/** Every event a bus hands its node, and a promise for the next one matching. */
function collect(bus: ChatBus) {
  const events: ChatEvent[] = []
  const waiters: (() => void)[] = []
  bus.onEvent((event) => {
    events.push(event)
    for (const wake of waiters.splice(0)) wake()
  })
  const next = async (type: ChatEvent['type']): Promise<ChatEvent> => {
    for (;;) {
      const found = events.find((e) => e.type === type)
      if (found) return found
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  return { events, next }
}

const sender = (nick: string) => ({ nick, user: nick, host: 'test' })

/** The contract every bus keeps, run against each backend with two nodes on one chat. */
function busContract(connectPair: () => Promise<[ChatBus, ChatBus]>) {
  it('claims a nickname once across nodes, case-insensitively, until released', async () => {
    const [a, b] = await connectPair()
    try {
      expect(await a.claimNick('Alice')).toBe(true)
      expect(await b.claimNick('alice')).toBe(false)
      expect(await b.isOnline('ALICE')).toBe(true)
      await b.releaseNick('alice') // not b's: nothing happens
      expect(await a.isOnline('alice')).toBe(true)
      await a.releaseNick('alice')
      expect(await b.claimNick('alice')).toBe(true)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('keeps rooms and members, and delivers every event to every node in one order', async () => {
    const [a, b] = await connectPair()
    try {
      const seenA = collect(a)
      const seenB = collect(b)
      await a.join('#Room', 'alice')
      await b.join('#room', 'bob')
      expect((await a.members('#ROOM')).sort()).toEqual(['alice', 'bob'])
      expect(await b.rooms()).toEqual([{ name: '#Room', members: 2 }])
      for (let i = 0; i < 20; i++) {
        await a.publish({ type: 'message', from: sender('alice'), room: '#Room', text: `a${i}` })
        void b.publish({ type: 'message', from: sender('bob'), room: '#Room', text: `b${i}` })
      }
      await b.publish({ type: 'part', from: sender('bob'), room: '#Room', reason: 'end' })
      await seenA.next('part')
      await seenB.next('part')
      const texts = (events: ChatEvent[]) => events.map((e) => (e.type === 'message' ? e.text : e.type))
      expect(texts(seenA.events)).toEqual(texts(seenB.events)) // one order for everyone
      for (const who of ['a', 'b'])
        expect(texts(seenA.events).filter((t) => t.startsWith(who))).toEqual(
          Array.from({ length: 20 }, (_, i) => `${who}${i}`),
        )
      await b.part('#room', 'bob')
      await a.part('#room', 'alice')
      expect(await a.rooms()).toEqual([])
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
}

describe('MemoryChatState', () => {
  busContract(async () => {
    const state = new MemoryChatState()
    return [state.attach(), state.attach()]
  })
})

describe('hub (the pooled modes)', () => {
  let dir: string
  let hub: ChatHub
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chat-hub-'))
    hub = await startChatHub(join(dir, 'hub.sock'))
  })
  afterAll(async () => {
    await hub.close()
    rmSync(dir, { recursive: true, force: true })
  })

  busContract(async () => Promise.all([HubBus.connect(hub.path), HubBus.connect(hub.path)]))

  it('publishes the quits of a node whose connection drops, and frees what it held', async () => {
    const [a, b] = await Promise.all([HubBus.connect(hub.path), HubBus.connect(hub.path)])
    try {
      const seenB = collect(b)
      expect(await a.claimNick('crasher')).toBe(true)
      await a.join('#crash', 'crasher')
      ;(a as unknown as { close(): Promise<void> }).close() // the worker's connection ends
      const quit = await seenB.next('quit')
      expect(quit).toMatchObject({ type: 'quit', from: { nick: 'crasher' }, rooms: ['#crash'] })
      expect(await b.isOnline('crasher')).toBe(false)
      expect(await b.members('#crash')).toEqual([])
    } finally {
      await b.close()
    }
  })
})

describe.skipIf(!hasCommand('redis-server') && !process.env.REDIS_URL)('RedisBus', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(() => redis?.stop())

  let prefix = 0
  busContract(async () => {
    const options = { prefix: `bus-test-${process.pid}-${prefix++}:` }
    return Promise.all([RedisBus.connect(redis.url, options), RedisBus.connect(redis.url, options)])
  })
})
