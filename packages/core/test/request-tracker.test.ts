import { RequestTracker } from '@socketserver/core'
import { describe, expect, it } from 'vitest'

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
})
