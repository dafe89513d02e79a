/**
 * The message bus: everything chat servers must share, whichever process or thread holds the
 * connection. Two parts:
 * - state with atomic updates (who holds which nickname, who is in which room), so that a nickname
 *   is taken once across every node;
 * - one ordered stream of events that every node receives, its own included, and delivers to the
 *   users it holds. One stream keeps each sender's events in order for every receiver.
 *
 * A node is one holder of connections: the process in event-loop mode, each worker thread or child
 * process in the pooled modes, each process of a multi-machine chat. Entries a node made are its
 * own: when it goes away they go with it (so a crashed node does not keep nicknames forever).
 */

/** Who sent an event: the nickname plus what IRC shows in a prefix (`nick!user@host`). */
export interface Sender {
  nick: string
  user: string
  host: string
}

export type ChatEvent =
  | { type: 'message'; from: Sender; room: string; text: string; action?: boolean }
  | { type: 'private'; from: Sender; to: string; text: string }
  | { type: 'join'; from: Sender; room: string }
  | { type: 'part'; from: Sender; room: string; reason: string }
  /** `rooms`: where the user was, so each receiver is told once whatever rooms it shares. */
  | { type: 'quit'; from: Sender; rooms: string[]; reason: string }
  | { type: 'nick'; from: Sender; nick: string; rooms: string[] }

export interface RoomInfo {
  name: string
  members: number
}

export interface ChatBus {
  /** This node's id, unique on the bus: owner of what it claims. */
  readonly id: string
  /** Takes `nick` for this node; false if someone holds it (names compare case-insensitively). */
  claimNick(nick: string): Promise<boolean>
  releaseNick(nick: string): Promise<void>
  /** True if some node holds `nick`. */
  isOnline(nick: string): Promise<boolean>
  /** Records `nick` as a member of `room` (the room exists while it has members). */
  join(room: string, nick: string): Promise<void>
  part(room: string, nick: string): Promise<void>
  /** Members of `room`, as they spelled their nicknames. */
  members(room: string): Promise<string[]>
  /** Every room with members, by name. */
  rooms(): Promise<RoomInfo[]>
  /** Sends an event to every node, this one included, after every event this node sent before. */
  publish(event: ChatEvent): Promise<void>
  /** Called with each event in bus order. One listener per bus. */
  onEvent(listener: (event: ChatEvent) => void): void
  /** Releases this node's nicknames and memberships and disconnects. */
  close(): Promise<void>
}
