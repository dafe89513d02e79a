import { type BaseServerOptions, InvalidArgumentError } from '@socketserver/core'
import { check, type OptionTable } from '@socketserver/core/transport'
import { isAbstractName } from './path.js'

/** Options both Unix servers take, besides the base ones. */
export interface UnixServerOptions extends BaseServerOptions {
  /**
   * Permission bits of the socket file (e.g. `0o660`: owner and group may connect), in place
   * before any client can reach the socket. Not for abstract names, which have no file.
   * Default: `undefined` (what the process umask gives: `0o755` under the usual `022`).
   */
  socketMode?: number
}

/** The option table entries both Unix servers add. */
export const unixServerOptions: OptionTable = {
  socketMode: { default: undefined, check: check.integer({ max: 0o7777 }) },
}

/** `socketMode` cannot apply to an abstract name (no file); checked once the address is known. */
export function checkSocketMode(mode: number | undefined, path: string): void {
  if (mode === undefined) return
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new InvalidArgumentError(`socketMode must be an integer from 0 to 0o7777 (e.g. 0o660); got ${mode}`)
  }
  if (isAbstractName(path)) {
    throw new InvalidArgumentError(
      'socketMode does not apply to an abstract name: it has no file to set permissions on',
    )
  }
}
