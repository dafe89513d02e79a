import { execFileSync } from 'node:child_process'
import { lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exchange } from '../client.js'
import { startServer } from '../proc.js'
import type { Scenario } from '../scenario.js'

/** One line through `nc -U` (a client we did not write), or through Node when nc is missing. */
async function roundTrip(path: string, line: string): Promise<string> {
  try {
    return execFileSync('nc', ['-U', '-q', '1', path], { input: line, timeout: 5_000 }).toString()
  } catch {
    return (await exchange({ path }, line, { untilClose: false })).data
  }
}

export const unixSockets: Scenario = {
  id: 9,
  title: 'Unix sockets',
  async run(r) {
    r.set({
      servers: 'EventLoopUnixStreamServer (line echo), started as a child process per case',
      load: 'one client per case (nc -U)',
      faults: 'SIGKILL of the server, leaving its socket file behind; restart over it',
      badInputs:
        'a regular file at the socket path; an over-long path (200 bytes); socketMode 0o600 and 0o660',
    })
    const dir = mkdtempSync(join(tmpdir(), 'chaos-unix-'))
    try {
      const path = join(dir, 'echo.sock')
      const first = await startServer('unix', { path })
      r.check('serves on its path', (await roundTrip(path, 'one\n')) === 'one\n')
      await first.kill() // SIGKILL: no cleanup runs
      r.check('the dead server left a stale socket file', lstatSync(path).isSocket())
      const second = await startServer('unix', { path })
      const served = await roundTrip(path, 'two\n')
      await second.kill()
      r.check('a restart over the stale socket file works', served === 'two\n', JSON.stringify(served))

      const file = join(dir, 'precious.txt')
      writeFileSync(file, 'do not delete\n')
      const refused = await startServer('unix', { path: file }, { expectError: true })
      await refused.kill()
      r.check(
        'a regular file at the path: typed error SOCKSRV_NOT_A_SOCKET',
        refused.ready.error?.code === 'SOCKSRV_NOT_A_SOCKET',
        refused.ready.error,
      )
      r.check('the regular file is never deleted', readFileSync(file, 'utf8') === 'do not delete\n')

      for (const mode of [0o600, 0o660]) {
        const at = join(dir, `m${mode.toString(8)}.sock`)
        const server = await startServer('unix', { path: at, socketMode: mode })
        const actual = lstatSync(at).mode & 0o777
        const ok = (await roundTrip(at, 'mode\n')) === 'mode\n'
        await server.kill()
        r.check(`socketMode 0o${mode.toString(8)} honoured`, actual === mode && ok, `0o${actual.toString(8)}`)
      }

      const long = join(dir, 'x'.repeat(200))
      const tooLong = await startServer('unix', { path: long }, { expectError: true })
      await tooLong.kill()
      r.check(
        'an over-long path: typed error SOCKSRV_PATH_TOO_LONG',
        tooLong.ready.error?.code === 'SOCKSRV_PATH_TOO_LONG',
        tooLong.ready.error,
      )
      r.set({ lost: 0 })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
}
