import { spawn } from 'node:child_process'
import { freePort } from '@socketserver/compliance-tests'
import { afterEach, describe, expect, it } from 'vitest'
import { CLI, cleanup, run, waitFor } from './helpers.js'

afterEach(cleanup)

describe('time-server started by systemd-socket-activate', () => {
  it('serves each passed socket as the service it is named after; rdate and nc get answers', async () => {
    const [daytime, time] = [await freePort(), await freePort()]
    const sd = spawn(
      'systemd-socket-activate',
      [
        '-l',
        `127.0.0.1:${daytime}`,
        '-l',
        `127.0.0.1:${time}`,
        '--fdname=daytime:time',
        process.execPath,
        CLI,
        '--host',
        '::1',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    let err = ''
    sd.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    sd.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    const exited = new Promise((resolve) => sd.once('exit', resolve))
    try {
      await waitFor(() => /as 4\./.test(err), 'systemd-socket-activate to listen', 10_000)
      const day = await run('nc', ['-q', '1', '127.0.0.1', String(daytime)], { input: '' })
      expect(day.stdout).toMatch(/^\w+day, \w+ \d+, \d{4} \d\d:\d\d:\d\d-UTC\r?\n$/)
      const rdate = await run('rdate', ['-p', '-o', String(time), '127.0.0.1'])
      expect(rdate.code, rdate.stderr).toBe(0)
      expect(out).toContain(`time-server: listening on tcp 127.0.0.1:${daytime} (daytime, RFC 867)`)
      expect(out).toContain(`time-server: listening on tcp 127.0.0.1:${time} (time, RFC 868)`)
      expect(out).not.toContain('sntp') // nothing bound beyond the passed sockets
      expect(err).toContain('serving on the 2 socket(s) passed by systemd; ignoring --host')
    } finally {
      sd.kill('SIGTERM')
      await exited
    }
  })
})
