import { afterEach, describe, expect, it } from 'vitest'
import { Client, cleanup, startCli, tryConnect } from './helpers.js'

afterEach(cleanup)

const DRAINING = /stopped accepting/
const SUMMARY =
  /^echo: stopped: (\d+) connection\(s\) and \d+ datagram\(s\) served, (\d+) byte\(s\) echoed, \d+ closed idle, (\d+) cut short/m

describe('echo-server graceful shutdown', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s: refuses new connections, lets the connected client finish, exits 0',
    async (signal) => {
      const drainTimeout = 20_000
      const echo = await startCli(['--port', '0', '--drain-timeout', String(drainTimeout)])
      const client = await Client.connect(echo.port)
      await client.exchange('before the signal\n')

      echo.child.kill(signal)
      await echo.waitForOutput(DRAINING)
      expect(await tryConnect(echo.port)).toBe('ECONNREFUSED')

      // Mid-exchange: the open connection is still served during the drain.
      await client.exchange('after the signal\n')
      client.socket.end()
      await client.until(() => client.ended, 'FIN once the client is done')

      const exit = await echo.waitForExit(drainTimeout)
      expect(exit).toEqual({ code: 0, signal: null })
      const [, connections, bytes, aborted] = echo.stdout().match(SUMMARY) ?? []
      expect(Number(connections)).toBe(1) // tryConnect was refused, never served
      expect(Number(bytes)).toBe(Buffer.byteLength('before the signal\nafter the signal\n'))
      expect(Number(aborted)).toBe(0) // it ended because the client finished, not at the timeout
      expect(client.received.toString()).toBe('before the signal\nafter the signal\n')
    },
    40_000,
  )

  it('closes a client still idle at the drain timeout and exits 0', async () => {
    const echo = await startCli(['--port', '0', '--drain-timeout', '500'])
    const client = await Client.connect(echo.port)
    await client.exchange('then idle')
    echo.child.kill('SIGTERM')
    const exit = await echo.waitForExit(10_000)
    expect(exit).toEqual({ code: 0, signal: null })
    await client.until(() => client.closed, 'the server closing the idle connection')
    const [, , , aborted] = echo.stdout().match(SUMMARY) ?? []
    expect(Number(aborted)).toBe(1)
    expect(echo.stderr()).toBe('') // cutting a connection short is routine, not an error to print
  })

  it('a second signal exits at once, without waiting for the drain', async () => {
    const echo = await startCli(['--port', '0', '--drain-timeout', '60000'])
    const client = await Client.connect(echo.port)
    await client.exchange('holding on')
    echo.child.kill('SIGTERM')
    await echo.waitForOutput(DRAINING)
    echo.child.kill('SIGTERM')
    const exit = await echo.waitForExit(10_000)
    expect(exit).toEqual({ code: 128 + 15, signal: null })
    expect(echo.stdout()).not.toMatch(SUMMARY)
  })

  it('exits 0 at once when nothing is connected', async () => {
    const echo = await startCli(['--port', '0', '--drain-timeout', '60000'])
    echo.child.kill('SIGTERM')
    const exit = await echo.waitForExit(10_000)
    expect(exit).toEqual({ code: 0, signal: null })
    expect(echo.stdout()).toMatch(SUMMARY)
  })
})
