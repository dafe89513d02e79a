/**
 * A request tracked through an object of its own (`link`/`unlink`) rather than an entry in a
 * map: core's event-loop mode keeps one per request anyway. The tracker owns `prev` and `next`.
 */
export interface TrackedNode<R> {
  readonly request: R
  prev: TrackedNode<R> | undefined
  next: TrackedNode<R> | undefined
}

/** The requests being processed right now, so that close can wait for them or cut them short. */
export class RequestTracker<R> {
  readonly #active = new Map<R, number>()
  // Linked nodes: adding and removing them allocates nothing, where a Map that churns through
  // a request per datagram keeps rehashing (a tenth of a UDP echo's allocations).
  #head: TrackedNode<R> | undefined
  #linked = 0
  #idleWaiters: Array<() => void> = []
  #belowWaiters: Array<{ limit: number; wake: () => void }> = []

  get size(): number {
    return this.#active.size + this.#linked
  }

  *requests(): IterableIterator<R> {
    yield* this.#active.keys()
    for (let node = this.#head; node; node = node.next) yield node.request
  }

  /** Whether `request` is tracked (a linked one is looked for along the list). */
  has(request: R): boolean {
    if (this.#active.has(request)) return true
    for (let node = this.#head; node; node = node.next) if (node.request === request) return true
    return false
  }

  add(request: R): void {
    this.#active.set(request, (this.#active.get(request) ?? 0) + 1)
  }

  delete(request: R): void {
    const count = this.#active.get(request)
    if (count === undefined) return
    if (count > 1) this.#active.set(request, count - 1)
    else this.#active.delete(request)
    this.#removed()
  }

  /** Tracks `node.request` until `unlink(node)`. */
  link(node: TrackedNode<R>): void {
    node.prev = undefined
    node.next = this.#head
    if (this.#head) this.#head.prev = node
    this.#head = node
    this.#linked++
  }

  /** Stops tracking a linked node; returns false (doing nothing) for one not linked. */
  unlink(node: TrackedNode<R>): boolean {
    if (node.prev) node.prev.next = node.next
    else if (this.#head === node) this.#head = node.next
    else return false
    if (node.next) node.next.prev = node.prev
    node.prev = node.next = undefined
    this.#linked--
    this.#removed()
    return true
  }

  #removed(): void {
    if (this.#belowWaiters.length > 0) this.#wakeBelow()
    if (this.size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const wake of waiters) wake()
    }
  }

  /** Resolves once fewer than `limit` requests are being processed. */
  whenBelow(limit: number): Promise<void> {
    if (this.size < limit) return Promise.resolve()
    return new Promise((wake) => this.#belowWaiters.push({ limit, wake }))
  }

  #wakeBelow(): void {
    const size = this.size
    this.#belowWaiters = this.#belowWaiters.filter(({ limit, wake }) => {
      if (size >= limit) return true
      wake()
      return false
    })
  }

  /** Resolves once no request is being processed. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }
}
