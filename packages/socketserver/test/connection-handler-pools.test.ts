import { ConnectionHandler, ForkingTCPServer, ThreadingTCPServer } from '@socketserver/socketserver'
import { describe, expect, it } from 'vitest'

class Quiet extends ConnectionHandler {}

describe('a ConnectionHandler in a pool', () => {
  it.each([
    ['ThreadingMixIn', ThreadingTCPServer],
    ['ForkingMixIn', ForkingTCPServer],
  ])('%s refuses it when constructed, before binding anything', (mixin, Server) => {
    const make = () =>
      new Server({ host: '127.0.0.1', port: 0 }, Quiet, {
        handlerModule: import.meta.url,
        bindAndActivate: false,
      })
    expect(make).toThrow(expect.objectContaining({ code: 'SOCKSRV_INVALID_ARGUMENT' }))
    expect(make).toThrow(`${mixin} cannot run Quiet`)
  })
})
