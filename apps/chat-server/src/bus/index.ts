import { HubBus } from './hub.js'
import { MemoryChatState } from './memory.js'
import { RedisBus } from './redis.js'
import type { ChatBus } from './types.js'

export { type ChatHub, HubBus, startChatHub } from './hub.js'
export { MemoryBus, MemoryChatState } from './memory.js'
export { RedisBus } from './redis.js'
export type { ChatBus, ChatEvent, RoomInfo, Sender } from './types.js'

/**
 * Connects a node to the bus named by `spec`: `memory` (a new in-process state), `hub:<path>` (the
 * server process's hub, for worker threads and child processes) or `redis://host:port[/db]`.
 */
export async function connectBus(spec: string, { prefix }: { prefix?: string } = {}): Promise<ChatBus> {
  if (spec === 'memory') return new MemoryChatState().attach()
  if (spec.startsWith('hub:')) return HubBus.connect(spec.slice(4))
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) return RedisBus.connect(spec, { prefix })
  throw new TypeError(`unknown bus ${JSON.stringify(spec)}: use memory, hub:<path> or redis://host:port`)
}
