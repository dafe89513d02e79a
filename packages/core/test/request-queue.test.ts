import { describe, expect, it } from 'vitest'
import { RequestQueue } from '../src/request-queue.js'

describe('RequestQueue', () => {
  it('hands items out in the order they were pushed', () => {
    const queue = new RequestQueue<number>(10)
    for (const n of [1, 2, 3]) expect(queue.push(n)).toBe(true)
    expect(queue.length).toBe(3)
    expect([queue.shift(), queue.shift(), queue.shift(), queue.shift()]).toEqual([1, 2, 3, undefined])
    expect(queue.length).toBe(0)
  })

  it('refuses items past its capacity, and takes them again once there is room', () => {
    const queue = new RequestQueue<string>(2)
    expect(queue.push('a')).toBe(true)
    expect(queue.push('b')).toBe(true)
    expect(queue.push('c')).toBe(false)
    expect(queue.length).toBe(2)
    queue.shift()
    expect(queue.push('d')).toBe(true)
    expect([queue.shift(), queue.shift()]).toEqual(['b', 'd'])
  })

  it('honours a capacity changed after construction', () => {
    const queue = new RequestQueue<number>(1)
    queue.push(1)
    expect(queue.push(2)).toBe(false)
    queue.capacity = 3
    expect(queue.push(2)).toBe(true)
    expect(queue.push(3)).toBe(true)
    expect(queue.push(4)).toBe(false)
  })

  it('keeps order across its internal compaction (thousands of items)', () => {
    const queue = new RequestQueue<number>(Number.POSITIVE_INFINITY)
    const taken: number[] = []
    for (let i = 0; i < 5000; i++) {
      queue.push(i)
      if (i % 3 === 2) taken.push(queue.shift()!, queue.shift()!)
    }
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) taken.push(item)
    expect(taken).toEqual(Array.from({ length: 5000 }, (_, i) => i))
  })

  it('wait() answers true at once when an item is waiting', () => {
    const queue = new RequestQueue<number>(5)
    queue.push(1)
    expect(queue.wait(null)).toBe(true)
  })

  it('wait() resolves true when an item arrives', async () => {
    const queue = new RequestQueue<number>(5)
    const ready = queue.wait(null)
    expect(ready).toBeInstanceOf(Promise)
    queue.push(7)
    await expect(ready).resolves.toBe(true)
    expect(queue.shift()).toBe(7)
  })

  it('wait() resolves false after its timeout with nothing waiting', async () => {
    const queue = new RequestQueue<number>(5)
    await expect(queue.wait(5)).resolves.toBe(false)
    await expect(queue.wait(0)).resolves.toBe(false)
  })

  it('wake() ends a wait with false; a wait with no timeout otherwise lasts', async () => {
    const queue = new RequestQueue<number>(5)
    let settled: boolean | undefined
    const waiting = Promise.resolve(queue.wait(null)).then((ready) => (settled = ready))
    await new Promise((resolve) => setImmediate(resolve))
    expect(settled).toBeUndefined()
    queue.wake()
    await waiting
    expect(settled).toBe(false)
  })

  it('close() refuses new items, returns those waiting and ends a wait', async () => {
    const queue = new RequestQueue<string>(5)
    queue.push('a')
    queue.push('b')
    queue.shift()
    expect(queue.close()).toEqual(['b'])
    expect(queue.closed).toBe(true)
    expect(queue.length).toBe(0)
    expect(queue.push('c')).toBe(false)
    expect(queue.wait(null)).toBe(false)
  })

  it('close() wakes a pending wait with false', async () => {
    const queue = new RequestQueue<string>(5)
    const waiting = queue.wait(null)
    queue.close()
    await expect(waiting).resolves.toBe(false)
  })

  it('a new wait replaces the old one, which resolves false', async () => {
    const queue = new RequestQueue<string>(5)
    const first = queue.wait(null)
    const second = queue.wait(null)
    await expect(first).resolves.toBe(false)
    queue.push('x')
    await expect(second).resolves.toBe(true)
  })

  it('wait(ms, onArrival): an arrival served on the spot keeps the wait going; one not served ends it', async () => {
    const queue = new RequestQueue<number>(5)
    const served: number[] = []
    let serve = true
    const onArrival = () => {
      if (!serve) return false
      served.push(queue.shift()!)
      if (served.length === 1) queue.push(99) // pushed from inside: queued, not served recursively
      return true
    }
    let settled: boolean | undefined
    const waiting = Promise.resolve(queue.wait(null, onArrival)).then((ready) => (settled = ready))
    queue.push(1)
    // The item pushed from inside was left waiting: the wait ends so that the loop takes it.
    await waiting
    expect(settled).toBe(true)
    expect(served).toEqual([1])
    expect(queue.shift()).toBe(99)

    const again = queue.wait(null, onArrival)
    queue.push(2)
    queue.push(3)
    expect(served).toEqual([1, 2, 3])
    serve = false
    queue.push(4)
    await expect(again).resolves.toBe(true)
    expect(queue.shift()).toBe(4)
    queue.push(5) // no wait pending: onArrival is not called
    expect(served).toEqual([1, 2, 3])
  })
})
