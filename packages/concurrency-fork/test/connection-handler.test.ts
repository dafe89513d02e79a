import { ConnectionHandler } from '@socketserver/stream-handlers'
import { TCPServer } from '@socketserver/transport-tcp'
import { describe, expect, it } from 'vitest'
import { ForkingMixIn } from '../src/index.js'

class Quiet extends ConnectionHandler {}

describe('a ConnectionHandler in a pool', () => {
  it('ForkingMixIn refuses it when constructed, before binding anything', () => {
    const Server = ForkingMixIn(TCPServer)
    const mixin = 'ForkingMixIn'
    const make = () =>
      new Server({ host: '127.0.0.1', port: 0 }, Quiet, {
        handlerModule: import.meta.url,
        bindAndActivate: false,
      })
    expect(make).toThrow(expect.objectContaining({ code: 'SOCKSRV_INVALID_ARGUMENT' }))
    expect(make).toThrow(`${mixin} cannot run Quiet`)
  })
})
