import diagnostics from 'node:diagnostics_channel'
import { reportListenerError } from '@socketserver/core/transport'
import { afterEach, describe, expect, it, vi } from 'vitest'

afterEach(() => vi.restoreAllMocks())

describe('reportListenerError', () => {
  it('publishes every error but prints at most one line per server per interval, counting the rest', () => {
    const written: string[] = []
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk))
      return true
    })
    const published: unknown[] = []
    const fn = (message: unknown) => published.push(message)
    diagnostics.subscribe('socketserver:server:error', fn)
    try {
      const server = {}
      const other = {}
      for (let i = 0; i < 5; i++) reportListenerError(server, new Error(`accept EMFILE ${i}`))
      reportListenerError(other, new Error('accept ENFILE'))
      expect(published).toHaveLength(6)
      expect(published[0]).toEqual({ server, error: expect.objectContaining({ message: 'accept EMFILE 0' }) })
      expect(written).toEqual([
        'socketserver: listener error: accept EMFILE 0\n',
        'socketserver: listener error: accept ENFILE\n',
      ])
    } finally {
      diagnostics.unsubscribe('socketserver:server:error', fn)
    }
  })

  it('reports the number held back once the interval has passed', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const written: string[] = []
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk))
      return true
    })
    try {
      const server = {}
      reportListenerError(server, new Error('first'))
      reportListenerError(server, new Error('held 1'))
      reportListenerError(server, new Error('held 2'))
      vi.setSystemTime(Date.now() + 10_001)
      reportListenerError(server, new Error('later'))
      expect(written).toEqual([
        'socketserver: listener error: first\n',
        'socketserver: listener error: later (2 more since the last report)\n',
      ])
    } finally {
      vi.useRealTimers()
    }
  })
})
