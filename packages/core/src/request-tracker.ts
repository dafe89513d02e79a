/** The requests being processed right now, so that close can wait for them or cut them short. */
export class RequestTracker<R> {
  readonly #active = new Map<R, number>()
  #idleWaiters: Array<() => void> = []
  #belowWaiters: Array<{ limit: number; wake: () => void }> = []

  get size(): number {
    return this.#active.size
  }

  requests(): IterableIterator<R> {
    return this.#active.keys()
  }

  has(request: R): boolean {
    return this.#active.has(request)
  }

  add(request: R): void {
    this.#active.set(request, (this.#active.get(request) ?? 0) + 1)
  }

  delete(request: R): void {
    const count = this.#active.get(request)
    if (count === undefined) return
    if (count > 1) this.#active.set(request, count - 1)
    else this.#active.delete(request)
    if (this.#belowWaiters.length > 0) this.#wakeBelow()
    if (this.#active.size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const wake of waiters) wake()
    }
  }

  /** Resolves once fewer than `limit` requests are being processed. */
  whenBelow(limit: number): Promise<void> {
    if (this.#active.size < limit) return Promise.resolve()
    return new Promise((wake) => this.#belowWaiters.push({ limit, wake }))
  }

  #wakeBelow(): void {
    const size = this.#active.size
    this.#belowWaiters = this.#belowWaiters.filter(({ limit, wake }) => {
      if (size >= limit) return true
      wake()
      return false
    })
  }

  /** Resolves once no request is being processed. */
  idle(): Promise<void> {
    if (this.#active.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }
}
