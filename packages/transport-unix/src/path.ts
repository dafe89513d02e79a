import { InvalidArgumentError, SocketPathTooLongError } from '@socketserver/core'

/**
 * Bytes of `sun_path` a name may use: 108 on Linux (104 on macOS and the BSDs) less one, for the
 * NUL that ends a filesystem path, or for the NUL that starts an abstract name.
 */
export const MAX_UNIX_PATH_BYTES = process.platform === 'linux' ? 107 : 103

/**
 * Whether this runtime's `node:net` binds and connects abstract names padded with NUL bytes to the
 * whole `sun_path` (libuv < 1.48: Node 20). Node clients of the same runtime still reach such a
 * server; other programs must use the padded form (socat `ABSTRACT-CONNECT:name,unix-tightsocklen=0`,
 * Python `'\0name'.ljust(108, '\0')`). Node >= 22 uses the exact name, as Python and socat do.
 */
export const PADDED_ABSTRACT_NAMES = process.platform === 'linux' && !libuvAtLeast(1, 48)

function libuvAtLeast(major: number, minor: number): boolean {
  const [maj = 0, min = 0] = (process.versions.uv ?? '0.0').split('.').map(Number)
  return maj > major || (maj === major && min >= minor)
}

/** Whether `path` is a Linux abstract socket name (a leading NUL byte: no file on disk). */
export function isAbstractName(path: string): boolean {
  return path.charCodeAt(0) === 0
}

/**
 * Checks a Unix server address before any system call: a non-empty string that fits in `sun_path`,
 * with no NUL byte but a leading one (an abstract name, Linux only). Node would otherwise cut an
 * over-long path short and bind another file (Node 20) or fail with a bare EINVAL (Node 26).
 */
export function checkUnixPath(path: unknown): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidArgumentError(
      `a Unix server address is a non-empty path string (a leading "\\0" for an abstract name); got ${describe(path)}`,
    )
  }
  const abstract = isAbstractName(path)
  if (path.indexOf('\0', 1) !== -1) {
    throw new InvalidArgumentError(
      `a Unix socket path may not contain a NUL byte except as the first character (an abstract name); got ${JSON.stringify(path)}`,
    )
  }
  if (abstract && process.platform !== 'linux') {
    throw new InvalidArgumentError(
      `abstract socket names (a leading "\\0") exist on Linux only, not on ${process.platform}`,
    )
  }
  if (abstract && path.length === 1) {
    throw new InvalidArgumentError('an abstract socket name needs at least one character after the "\\0"')
  }
  // An abstract name's leading NUL takes the byte a path's terminating NUL would: the same limit.
  const bytes = Buffer.byteLength(path) - (abstract ? 1 : 0)
  if (bytes > MAX_UNIX_PATH_BYTES) throw new SocketPathTooLongError(path, bytes, MAX_UNIX_PATH_BYTES)
  return path
}

function describe(value: unknown): string {
  if (typeof value === 'string') return 'an empty string'
  if (Buffer.isBuffer(value)) return 'a Buffer (pass the path as a string)'
  return value === null ? 'null' : typeof value
}
