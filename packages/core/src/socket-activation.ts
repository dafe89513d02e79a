import { fstatSync, readFileSync, readlinkSync } from 'node:fs'
import {
  InheritedSocketError,
  InheritedSocketMismatchError,
  InvalidArgumentError,
  InvalidStateError,
} from './errors.js'

/**
 * systemd's socket activation protocol (`sd_listen_fds(3)`): a service manager opens the listening
 * sockets and starts the program with them at descriptors 3, 4, ... and says so in the environment:
 * `LISTEN_FDS` (how many), `LISTEN_PID` (for which process: ours, or the descriptors were meant for
 * another one) and `LISTEN_FDNAMES` (their `FileDescriptorName=`s, colon-separated).
 *
 * A restart of our own (`restartProcess()`, restart.ts) uses the same variables, except that a
 * parent cannot know its child's pid before starting it: it names itself in
 * `SOCKETSERVER_LISTEN_PARENT` instead of `LISTEN_PID`, and the child checks it is that parent's
 * child (docs/decisions/0015-socket-activation-and-restart.md).
 */

/** The first descriptor passed (`SD_LISTEN_FDS_START`). */
export const LISTEN_FDS_START = 3
/** Set by `restartProcess()` in place of `LISTEN_PID`: the pid of the process that passed the descriptors. */
export const LISTEN_PARENT_ENV = 'SOCKETSERVER_LISTEN_PARENT'
/**
 * Set by `restartProcess()`: each descriptor's Unix path as a JSON array (`null` for the others),
 * since the kernel keeps the path a socket was bound at, not the one it was linked to
 * (`socketMode` binds in a private directory first).
 */
export const LISTEN_PATHS_ENV = 'SOCKETSERVER_LISTEN_PATHS'

/** One descriptor passed to this process. */
export interface ListenFd {
  /** The descriptor number (3, 4, ...). */
  readonly fd: number
  /** Its `FileDescriptorName=` (systemd's default: the socket unit's name), or `''`. */
  readonly name: string
  /** Who passed it: the service manager, or the process this one replaces (`restartProcess()`). */
  readonly origin: 'systemd' | 'restart'
  /** A Unix socket's path, as the process this one replaces served it (`restartProcess()` only). */
  readonly path?: string
}

/** What kind of socket a descriptor is, read from Linux's /proc. */
export interface DescriptorKind {
  readonly type: 'stream' | 'dgram' | 'seqpacket' | 'unknown'
  readonly family: 'IPv4' | 'IPv6' | 'Unix' | 'unknown'
  /** A stream socket that listens (not an accepted connection: systemd's `Accept=yes` passes those). */
  readonly listening: boolean
  /** A Unix socket's bound path (`"\0name"` for an abstract one), `''` if unbound. */
  readonly path?: string
}

let passed: readonly ListenFd[] | undefined
const adopted = new Set<number>()

/**
 * The descriptors passed to this process, read from the environment on the first call; the
 * variables are then removed from `process.env`, so that child processes and worker threads
 * started later do not take them for theirs (`sd_listen_fds(1)`). Later calls return the same list.
 * Empty when nothing was passed, or when `LISTEN_PID` names another process.
 */
export function listenFds(): readonly ListenFd[] {
  passed ??= readListenFds(process.env)
  return passed
}

function readListenFds(env: NodeJS.ProcessEnv): readonly ListenFd[] {
  const count = env.LISTEN_FDS
  const pid = env.LISTEN_PID
  const parent = env[LISTEN_PARENT_ENV]
  const names = env.LISTEN_FDNAMES
  const paths = env[LISTEN_PATHS_ENV]
  for (const name of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', LISTEN_PARENT_ENV, LISTEN_PATHS_ENV])
    delete env[name]
  if (count === undefined) return []
  let origin: ListenFd['origin']
  if (pid !== undefined && Number(pid) === process.pid) origin = 'systemd'
  else if (pid === undefined && parent !== undefined && Number(parent) === process.ppid) origin = 'restart'
  else return [] // meant for another process (libsystemd's check)
  const n = /^\d+$/.test(count) ? Number(count) : Number.NaN
  if (!(n >= 0 && n <= 1024))
    throw new InheritedSocketError(`LISTEN_FDS is not a descriptor count: '${count}'`)
  const nameList = names === undefined ? [] : names.split(':')
  let pathList: unknown[] = []
  try {
    if (origin === 'restart' && paths) pathList = JSON.parse(paths)
  } catch {
    // no paths: the kernel's are used
  }
  return Array.from({ length: n }, (_, i) => {
    const path = pathList[i]
    return {
      fd: LISTEN_FDS_START + i,
      name: nameList[i] ?? '',
      origin,
      ...(typeof path === 'string' && { path }),
    }
  })
}

/** Which passed descriptors a server may adopt: one by number, or the next by name. */
export type InheritedSocket = { readonly fd: number } | { readonly name: string }

/** What a server must be given: its socket type and address kind. */
export interface AdoptionTarget {
  readonly socketType: 'stream' | 'dgram'
  readonly addressKind: 'inet' | 'unix'
}

/** A descriptor a server adopts, checked to be what it needs. */
export interface Adoption {
  readonly fd: number
  readonly kind: DescriptorKind
  /** The `ListenFd` it was passed as, if it came that way. */
  readonly passed: ListenFd | undefined
}

/**
 * Picks the descriptor `selector` names for a server of `target`'s kind, checks its type and family
 * (`InheritedSocketMismatchError` otherwise) and records it as adopted (a descriptor serves one
 * server). `{ name }` takes the first passed descriptor of that name that fits and is not adopted
 * yet, so a unit with `ListenStream=` and `ListenDatagram=` of one name feeds a TCP and a UDP server.
 * `{ fd }` takes any descriptor the process holds. Linux only (the checks read /proc).
 */
export function adoptDescriptor(target: AdoptionTarget, selector: InheritedSocket): Adoption {
  if ('fd' in selector) {
    const { fd } = selector
    if (!Number.isInteger(fd) || fd < 0)
      throw new InvalidArgumentError(`inherited.fd must be a descriptor number; got ${fd}`)
    if (adopted.has(fd))
      throw new InheritedSocketError(`descriptor ${fd} is already adopted by another server`)
    const kind = describeDescriptor(fd)
    checkFits(target, fd, kind)
    adopted.add(fd)
    return { fd, kind, passed: listenFds().find((p) => p.fd === fd) }
  }
  const named = listenFds().filter((p) => p.name === selector.name && !adopted.has(p.fd))
  if (named.length === 0 && listenFds().some((p) => p.name === selector.name)) {
    throw new InheritedSocketError(
      `every socket named '${selector.name}' is already adopted by another server`,
    )
  }
  if (named.length === 0) {
    const known = listenFds().map((p) => p.name || `(fd ${p.fd}, unnamed)`)
    throw new InheritedSocketError(
      `no socket named '${selector.name}' was passed to this process${known.length ? `; passed: ${known.join(', ')}` : ' (LISTEN_FDS is not set for it)'}`,
    )
  }
  let mismatch: InheritedSocketMismatchError | undefined
  for (const candidate of named) {
    const kind = describeDescriptor(candidate.fd)
    try {
      checkFits(target, candidate.fd, kind)
    } catch (error) {
      mismatch ??= error as InheritedSocketMismatchError
      continue
    }
    adopted.add(candidate.fd)
    return { fd: candidate.fd, kind, passed: candidate }
  }
  throw mismatch!
}

/** Forgets that `fd` was adopted (its server failed to bind and closed it). */
export function releaseDescriptor(fd: number): void {
  adopted.delete(fd)
}

function checkFits(target: AdoptionTarget, fd: number, kind: DescriptorKind): void {
  const family = target.addressKind === 'unix' ? ['Unix'] : ['IPv4', 'IPv6']
  const wanted = `a ${target.socketType === 'stream' ? 'listening stream' : 'datagram'} socket (${family.join(' or ')})`
  const ok =
    kind.type === target.socketType &&
    family.includes(kind.family) &&
    (target.socketType === 'dgram' || kind.listening)
  if (!ok) throw new InheritedSocketMismatchError(fd, wanted, describeKind(kind))
}

/** `'a listening stream socket (IPv6)'`, `'a datagram socket (Unix "/run/x.sock")'`, ... */
export function describeKind(kind: DescriptorKind): string {
  if (kind.type === 'unknown')
    return kind.family === 'unknown' ? 'not a socket' : `a ${kind.family} socket of another type`
  const what =
    kind.type === 'stream'
      ? kind.listening
        ? 'listening stream'
        : 'connected stream'
      : kind.type === 'dgram'
        ? 'datagram'
        : 'seqpacket'
  const where = kind.path ? ` ${JSON.stringify(kind.path.replace(/^\0/, '@'))}` : ''
  return `a ${what} socket (${kind.family}${where})`
}

// /proc/net/unix: Type (1 stream, 2 dgram, 5 seqpacket); Flags bit __SO_ACCEPTCON (1 << 16) = listening.
const UNIX_TYPES: Record<string, DescriptorKind['type']> = {
  '0001': 'stream',
  '0002': 'dgram',
  '0005': 'seqpacket',
}
const SO_ACCEPTCON = 0x10000
// /proc/net/tcp's st column: 0A is TCP_LISTEN.
const TCP_LISTEN = '0A'

/**
 * What socket `fd` is. Node cannot call `getsockopt(SO_TYPE)` or `getsockname()` on a raw
 * descriptor, so this reads Linux's /proc: /proc/self/fd/N names the socket's inode
 * (`socket:[123]`), and the kernel's socket tables (/proc/net/tcp, tcp6, udp, udp6, unix) say
 * which family and type that inode is, whether it listens, and a Unix socket's path.
 * `{ type: 'unknown', family: 'unknown' }` for a descriptor that is not a socket (or not open);
 * other platforms have no /proc: `InheritedSocketError` there.
 */
export function describeDescriptor(fd: number): DescriptorKind {
  const unknown: DescriptorKind = { type: 'unknown', family: 'unknown', listening: false }
  let link: string
  try {
    if (!fstatSync(fd).isSocket()) return unknown
    link = readlinkSync(`/proc/self/fd/${fd}`)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EBADF') return unknown
    if (process.platform !== 'linux') {
      throw new InheritedSocketError(
        `checking an inherited descriptor needs Linux's /proc (this is ${process.platform})`,
      )
    }
    throw new InheritedSocketError(`cannot inspect descriptor ${fd}: ${(error as Error).message}`)
  }
  const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1]
  if (!inode) return unknown
  const inet: Array<[string, DescriptorKind['type'], DescriptorKind['family']]> = [
    ['tcp', 'stream', 'IPv4'],
    ['tcp6', 'stream', 'IPv6'],
    ['udp', 'dgram', 'IPv4'],
    ['udp6', 'dgram', 'IPv6'],
  ]
  for (const [table, type, family] of inet) {
    for (const fields of procTable(table)) {
      // sl local rem st queues tr retrnsmt uid timeout inode
      if (fields[9] === inode)
        return { type, family, listening: type === 'stream' && fields[3] === TCP_LISTEN }
    }
  }
  for (const fields of procTable('unix')) {
    // Num RefCount Protocol Flags Type St Inode [Path]
    if (fields[6] !== inode) continue
    const path = fields.slice(7).join(' ')
    return {
      type: UNIX_TYPES[fields[4] ?? ''] ?? 'unknown',
      family: 'Unix',
      listening: (Number.parseInt(fields[3] ?? '0', 16) & SO_ACCEPTCON) !== 0,
      path: path.startsWith('@') ? `\0${path.slice(1)}` : path,
    }
  }
  return unknown // a socket of another family (netlink, packet, ...)
}

function procTable(name: string): string[][] {
  let text: string
  try {
    text = readFileSync(`/proc/net/${name}`, 'latin1')
  } catch {
    return [] // no IPv6 in this kernel, say
  }
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
}

/**
 * The descriptor of a listening `net.Server` or a bound `dgram.Socket`, for `fileno()`. Node has
 * no public API for it: this reads the libuv handle's `fd` (`_handle` of a server, the handle kept
 * under dgram's `state symbol`), which every Node version since 12 has.
 */
export function listeningDescriptor(socket: object | undefined): number {
  const owner = socket as Record<string | symbol, any> | undefined
  const state = owner && Object.getOwnPropertySymbols(owner).find((s) => s.description === 'state symbol')
  const fd: unknown = state ? owner[state]?.handle?.fd : owner?._handle?.fd
  if (typeof fd !== 'number' || fd < 0)
    throw new InvalidStateError('the server has no open listening descriptor (not bound yet, or closed)')
  return fd
}
