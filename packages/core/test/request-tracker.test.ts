import { describe, expect, it } from 'vitest'
import { RequestTracker } from '../src/request-tracker.js'

const turn = () => new Promise((resolve) => setImmediate(resolve))

describe('RequestTracker', () => {
  it('counts each request once, however often it is added', () => {
    const tracker = new RequestTracker<object>()
    const a = {}
    const b = {}
    tracker.add(a)
    tracker.add(a)
    tracker.add(b)
    expect(tracker.size).toBe(2)
    expect([...tracker.requests()]).toEqual([a, b])
    tracker.delete(a)
    expect(tracker.size).toBe(2) // a was added twice
    tracker.delete(a)
    expect(tracker.size).toBe(1)
    tracker.delete(a) // unknown: ignored
    expect(tracker.size).toBe(1)
  })

  it('idle() resolves at once when empty, else when the last request goes', async () => {
    const tracker = new RequestTracker<string>()
    await tracker.idle()
    tracker.add('a')
    tracker.add('b')
    let idle = false
    const waiting = tracker.idle().then(() => (idle = true))
    tracker.delete('a')
    await turn()
    expect(idle).toBe(false)
    tracker.delete('b')
    await waiting
    expect(idle).toBe(true)
  })

  it('whenBelow(limit) resolves once fewer than limit requests are active', async () => {
    const tracker = new RequestTracker<number>()
    await tracker.whenBelow(1)
    for (const n of [1, 2, 3]) tracker.add(n)
    const woken: number[] = []
    const below3 = tracker.whenBelow(3).then(() => woken.push(3))
    const below2 = tracker.whenBelow(2).then(() => woken.push(2))
    tracker.delete(1)
    await below3
    await turn()
    expect(woken).toEqual([3])
    tracker.delete(2)
    await below2
    expect(woken).toEqual([3, 2])
  })

  it('linked nodes count, iterate and wake waiters as added requests do', async () => {
    const tracker = new RequestTracker<string>()
    const node = (request: string) => ({ request, prev: undefined, next: undefined })
    const [a, b, c] = [node('a'), node('b'), node('c')]
    tracker.add('m')
    for (const n of [a, b, c]) tracker.link(n)
    expect(tracker.size).toBe(4)
    expect(new Set(tracker.requests())).toEqual(new Set(['m', 'a', 'b', 'c']))
    expect(tracker.has('b')).toBe(true)
    let below = false
    const belowWaiting = tracker.whenBelow(4).then(() => (below = true))
    expect(tracker.unlink(b)).toBe(true) // from the middle
    await belowWaiting
    expect(below).toBe(true)
    expect(tracker.unlink(b)).toBe(false) // not linked any more: nothing changes
    expect(tracker.has('b')).toBe(false)
    expect([...tracker.requests()].sort()).toEqual(['a', 'c', 'm'])
    let idle = false
    const idleWaiting = tracker.idle().then(() => (idle = true))
    expect(tracker.unlink(c)).toBe(true) // the head
    tracker.delete('m')
    await turn()
    expect(idle).toBe(false)
    expect(tracker.unlink(a)).toBe(true) // the last
    await idleWaiting
    expect(tracker.size).toBe(0)
    expect([...tracker.requests()]).toEqual([])
  })
})
