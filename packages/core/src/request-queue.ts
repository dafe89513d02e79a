/**
 * The requests a transport has received and the serve loop has not taken yet: Python's listen
 * backlog (stream) or socket receive buffer (datagram). Node accepts and reads eagerly, so the
 * waiting happens here, bounded by `capacity`.
 */
export class RequestQueue<T> {
  #items: T[] = []
  #head = 0
  #waiter: ((ready: boolean) => void) | undefined
  // One timer for every wait, re-armed with refresh(): creating and clearing a timer per request
  // showed up in UDP profiles. A fire with no waiter does nothing.
  #timer: NodeJS.Timeout | undefined
  #timerMs = 0
  #closed = false
  #onArrival: (() => boolean) | undefined
  #arriving = false

  constructor(public capacity: number) {}

  get length(): number {
    return this.#items.length - this.#head
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Adds an item; returns false (and keeps nothing) when the queue is full or closed. */
  push(item: T): boolean {
    if (this.#closed || this.length >= this.capacity) return false
    this.#items.push(item)
    const onArrival = this.#onArrival
    if (onArrival && this.#waiter && !this.#arriving) {
      this.#arriving = true
      let served: boolean
      try {
        served = onArrival()
      } finally {
        this.#arriving = false
      }
      // Served: the wait goes on, its timeout counted from now (as a new wait's would be).
      if (served && this.#isWaiting() && this.length === 0) {
        this.#timer?.refresh()
        return true
      }
    }
    this.#settle(true)
    return true
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head++] = undefined as T
    // Compact now and then instead of Array#shift() on every take.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }

  /**
   * Resolves true as soon as an item is waiting, false after `timeoutMs` (null: never) or when
   * `wake()`/`close()` is called. One waiter at a time: the serve loop.
   *
   * `onArrival`, while this wait lasts, is called by `push()` with the item queued: it may take
   * and serve it on the spot and return true, and the wait goes on; false ends the wait with true.
   */
  wait(timeoutMs: number | null, onArrival?: () => boolean): Promise<boolean> | boolean {
    if (this.length > 0) return true
    if (this.#closed) return false
    this.#settle(false)
    return new Promise<boolean>((resolve) => {
      this.#waiter = resolve
      this.#onArrival = onArrival
      if (timeoutMs !== null && Number.isFinite(timeoutMs)) {
        const ms = Math.max(1, timeoutMs)
        if (this.#timer && this.#timerMs === ms) this.#timer.refresh()
        else {
          clearTimeout(this.#timer)
          this.#timerMs = ms
          this.#timer = setTimeout(() => this.#settle(false), ms)
        }
      } else this.#disarm()
    })
  }

  /** Ends the current wait with false (used by shutdown()). */
  wake(): void {
    this.#settle(false)
    this.#disarm() // nobody waits after shutdown(): do not keep the process alive for pollInterval
  }

  #disarm(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Refuses new items and returns the ones still waiting, for the caller to close. */
  close(): T[] {
    this.#closed = true
    const rest = this.#items.slice(this.#head)
    this.#items = []
    this.#head = 0
    this.#settle(false)
    this.#disarm()
    return rest
  }

  // A method, so that the compiler does not assume the waiter survived onArrival().
  #isWaiting(): boolean {
    return this.#waiter !== undefined
  }

  #settle(ready: boolean): void {
    const waiter = this.#waiter
    if (!waiter) return
    this.#waiter = this.#onArrival = undefined
    waiter(ready)
  }
}
