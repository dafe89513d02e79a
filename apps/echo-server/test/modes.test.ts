import { execFileSync } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, run, startCli } from './helpers.js'

afterEach(cleanup)

/** PIDs of the processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)])
      .toString()
      .split('\n')
      .filter((line) => line.trim())
      .map(Number)
  } catch {
    return [] // ps exits 1 when it lists nothing
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe.each(['thread', 'fork'])('--mode %s: handlers in a pool', (mode) => {
  it('echoes over TCP (nc) and UDP (Python), drains on SIGTERM and leaves no process behind', async () => {
    const echo = await startCli([
      '--mode',
      mode,
      '--listen',
      'tcp:127.0.0.1:0',
      '--listen',
      'udp:127.0.0.1:0',
    ])
    const udp = await echo.waitForOutput(/listening on udp 127\.0\.0\.1:(\d+) \(mode (\w+)\)/)
    expect(echo.mode).toBe(mode)

    const tcp = await run('nc', ['-N', '127.0.0.1', String(echo.port)], {
      input: Buffer.from(`over ${mode}\n`),
    })
    expect(tcp.stdout.toString()).toBe(`over ${mode}\n`)
    const datagram = await run(
      'python3',
      [
        '-c',
        'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(5)\n' +
          's.sendto(sys.argv[2].encode(),("127.0.0.1",int(sys.argv[1])))\nprint(s.recvfrom(100)[0].decode())',
        udp[1]!,
        `datagram via ${mode}`,
      ],
      { input: Buffer.alloc(0) },
    )
    expect(datagram.stdout.toString()).toBe(`datagram via ${mode}\n`)

    const pid = echo.child.pid!
    const children = childrenOf(pid)
    if (mode === 'fork') expect(children.length).toBeGreaterThan(0) // the pool's child processes
    echo.child.kill('SIGTERM')
    const exit = await echo.waitForExit()
    expect(exit.code).toBe(0)
    expect(echo.stdout()).toMatch(/echo: stopped: 1 connection\(s\) and 1 datagram\(s\) served/)
    for (const child of children) expect(alive(child)).toBe(false)
  })
})
