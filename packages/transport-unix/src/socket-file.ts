import type { BigIntStats } from 'node:fs'
import { chmod, link, lstat, mkdtemp, rmdir, unlink } from 'node:fs/promises'
import net from 'node:net'
import { dirname, join, sep } from 'node:path'
import { BindError, NotASocketError } from '@socketserver/core'
import { UnixDatagramSocket } from './datagram-socket.js'
import { MAX_UNIX_PATH_BYTES } from './path.js'

/** Which file a server bound: a socket is removed at close only if the path still names this one. */
export interface SocketFileIdentity {
  dev: bigint
  ino: bigint
}

/** How long the stale-socket probe waits for a connect to succeed or fail, in ms. */
const PROBE_TIMEOUT_MS = 2_000

const ignore = () => {}

async function lstatOrUndefined(path: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(path, { bigint: true })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function sameFile(a: BigIntStats | SocketFileIdentity, b: BigIntStats | SocketFileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino
}

function fileType(stats: BigIntStats): string {
  if (stats.isFile()) return 'regular file'
  if (stats.isDirectory()) return 'directory'
  if (stats.isSymbolicLink()) return 'symbolic link'
  if (stats.isFIFO()) return 'FIFO'
  if (stats.isCharacterDevice()) return 'character device'
  if (stats.isBlockDevice()) return 'block device'
  return 'file of unknown type'
}

/** A system error as Node makes them, for a condition we detect ourselves. */
export function systemError(
  code: string,
  syscall: string,
  path: string,
  what: string,
): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code}: ${what} ${path}`), { code, syscall, path }) // a system error, as Node's
}

type ProbeResult = 'live' | 'stale' | 'gone' | NodeJS.ErrnoException

/** Which kind of socket a probe uses: the other kind than the server's, see `clearStaleSocket`. */
export type ProbeKind = 'stream' | 'datagram'

function classify(error: NodeJS.ErrnoException): ProbeResult {
  if (error.code === 'ECONNREFUSED') return 'stale'
  if (error.code === 'ENOENT') return 'gone'
  // EPROTOTYPE: a socket of the other type is bound there; EAGAIN: a stream server's backlog is full.
  if (error.code === 'EPROTOTYPE' || error.code === 'EAGAIN') return 'live'
  return error
}

/** Connects a stream socket to `path`. */
function probeWithStream(path: string): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ path })
    const done = (result: ProbeResult) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(result)
    }
    const timer = setTimeout(() => done('live'), PROBE_TIMEOUT_MS)
    socket.once('connect', () => done('live'))
    socket.once('error', (error: NodeJS.ErrnoException) => done(classify(error)))
  })
}

/** Sends an empty datagram to `path` from an unbound datagram socket. */
async function probeWithDatagram(path: string): Promise<ProbeResult> {
  let socket: UnixDatagramSocket
  try {
    socket = await UnixDatagramSocket.open(ignore, ignore)
  } catch {
    return probeWithStream(path) // no native binary here: the stream probe still tells
  }
  try {
    await socket.send(EMPTY, path)
    return 'live'
  } catch (error) {
    return classify(error as NodeJS.ErrnoException)
  } finally {
    socket.close()
  }
}

const EMPTY = Buffer.alloc(0)

/**
 * Makes way for a server at `path` (a filesystem path). Nothing there: nothing to do. A socket
 * no process is bound to (left by a server that died): removed, but only if the path still names
 * the file that was probed. A socket in use: `BindError` (`EADDRINUSE`). Anything that is not a
 * socket: `NotASocketError`, and the file is left as it is.
 *
 * The probe connects to the socket: ECONNREFUSED is the kernel saying nobody is bound to it. It
 * uses the other socket type than the server's (`probe`), because what usually sits at the path
 * is the same kind of server, and to it the probe is then invisible: a stream listener answers a
 * datagram with EPROTOTYPE, and a datagram socket a stream connect, without a connection queued
 * or a datagram delivered.
 */
export async function clearStaleSocket(path: string, probe: ProbeKind): Promise<void> {
  let stats: BigIntStats | undefined
  try {
    stats = await lstatOrUndefined(path)
  } catch (error) {
    throw new BindError(path, error)
  }
  if (!stats) return
  if (!stats.isSocket()) throw new NotASocketError(path, fileType(stats))
  const result = await (probe === 'datagram' ? probeWithDatagram(path) : probeWithStream(path))
  if (result === 'gone') return
  if (result === 'live') {
    throw new BindError(path, systemError('EADDRINUSE', 'bind', path, 'a server is bound to'))
  }
  if (result !== 'stale') throw new BindError(path, result)
  try {
    const now = await lstatOrUndefined(path)
    if (now && sameFile(now, stats)) await unlink(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new BindError(path, error)
  }
}

/**
 * Binds at `path` through a private directory: `bind(staging)` binds a socket inside a new 0700
 * directory next to `path` (no other user can reach it there), `mode` is applied to it, and only
 * then is it hard-linked to `path`. So no client can connect (or send) before the socket has its
 * final permissions, and `link(2)` refuses to replace whatever appeared at `path` meanwhile
 * (EADDRINUSE). The staging entry and directory are removed before this resolves.
 *
 * Returns the bound file's identity, or `undefined` when the staging path would not fit in
 * `sun_path` (a `path` within about 10 bytes of the limit): then the caller binds in place.
 */
export async function bindThroughPrivateDirectory(
  path: string,
  mode: number | undefined,
  bind: (stagingPath: string) => Promise<void>,
): Promise<SocketFileIdentity | undefined> {
  const parent = dirname(path)
  // mkdtemp adds six characters to the prefix (and creates the directory with mode 0700).
  const prefix = `${parent}${sep}.s`
  if (Buffer.byteLength(`${prefix}XXXXXX${sep}s`) > MAX_UNIX_PATH_BYTES) return undefined
  let staging: string
  try {
    staging = await mkdtemp(prefix)
  } catch (error) {
    throw new BindError(path, error)
  }
  const stagingPath = join(staging, 's')
  try {
    await bind(stagingPath)
    try {
      if (mode !== undefined) await chmod(stagingPath, mode)
      await link(stagingPath, path)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new BindError(path, systemError('EADDRINUSE', 'bind', path, 'another socket was bound to'))
      }
      throw new BindError(path, error)
    }
  } finally {
    await unlink(stagingPath).catch(ignore)
    await rmdir(staging).catch(ignore)
  }
  return identify(path)
}

/** The identity of the socket file now at `path` (just bound by us). */
export async function identify(path: string): Promise<SocketFileIdentity | undefined> {
  const stats = await lstatOrUndefined(path).catch(() => undefined)
  return stats?.isSocket() ? { dev: stats.dev, ino: stats.ino } : undefined
}

/** Applies `mode` to a socket file bound in place (the fallback path: see `bindThroughPrivateDirectory`). */
export async function applyMode(path: string, mode: number | undefined): Promise<void> {
  if (mode === undefined) return
  try {
    await chmod(path, mode)
  } catch (error) {
    throw new BindError(path, error)
  }
}

/**
 * Removes the socket file a server bound, if `path` still names that very file: a socket
 * another server bound there since, or a file put there by anyone, is left alone.
 */
export async function removeOwnSocketFile(
  path: string,
  identity: SocketFileIdentity | undefined,
): Promise<void> {
  if (!identity) return
  const stats = await lstatOrUndefined(path).catch(() => undefined)
  if (stats?.isSocket() && sameFile(stats, identity)) await unlink(path).catch(ignore)
}
