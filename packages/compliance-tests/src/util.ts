import { existsSync, readdirSync } from 'node:fs'
import { setImmediate as nextTurn } from 'node:timers/promises'

/** A promise a test opens when it chooses: handlers await it to stay in flight. */
export class Gate {
  readonly promise: Promise<void>
  #open!: () => void
  #opened = false

  constructor() {
    this.promise = new Promise((resolve) => (this.#open = resolve))
  }

  get opened(): boolean {
    return this.#opened
  }

  open(): void {
    this.#opened = true
    this.#open()
  }
}

export interface WaitForOptions {
  /** Give up (reject) after this many ms. Default: `5000`. */
  timeout?: number
  /** What is awaited, for the error message. */
  what?: string
}

/**
 * Resolves once `condition()` is true; rejects after `timeout`. A deadline for a test to fail by,
 * never a measurement: the outcome asserted is the condition, not how long it took.
 */
export async function waitFor(condition: () => boolean, { timeout = 5000, what }: WaitForOptions = {}) {
  const deadline = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeout} ms waiting for ${what ?? condition}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** Lets the event loop run `turns` times, so that anything already able to happen has happened. */
export async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await nextTurn()
}

/** Whether this platform lists a process's descriptors in `/proc/self/fd` (Linux). */
export const canCountFileDescriptors = existsSync('/proc/self/fd')

/** How many file descriptors this process has open (Linux). */
export function openFileDescriptorCount(): number {
  return readdirSync('/proc/self/fd').length
}
