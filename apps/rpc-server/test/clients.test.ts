// Real clients no one here wrote, against the CLI: Debian's rpcinfo (with a real rpcbind started
// here when none runs) and a C client built by rpcgen from the app's kv.x, over TCP and UDP.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KV_PROG, KV_VERS } from '../src/kv-program.js'
import { buildCClient, listening, type RunningCli, run, startCli } from './helpers.js'

const have = (tool: string) =>
  ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(`${d}/${tool}`))
const root = process.getuid?.() === 0
// rpcbind needs port 111 (root); rpcinfo, even with -n PORT, asks rpcbind for the address first.
const canRpcbind = have('rpcbind') && have('rpcinfo') && root

describe('a C client built by rpcgen from kv.x', () => {
  let built: { dir: string; client: string }
  let server: RunningCli
  beforeAll(async () => {
    built = await buildCClient()
    server = await startCli(['--port', '0', '--register', 'no'])
  })
  afterAll(async () => {
    server?.child.kill('SIGTERM')
    await server?.exited
    if (built) rmSync(built.dir, { recursive: true, force: true })
  })

  it.each(['tcp', 'udp'])('calls every procedure over %s, and gets the results back', async (transport) => {
    const key = `key-${randomBytes(4).toString('hex')}`
    const value = randomBytes(12).toString('hex')
    const { stdout } = await run(built.client, ['127.0.0.1', String(server.port), transport, key, value])
    expect(stdout.trim().split('\n')).toEqual([
      'null ok',
      `put ${key} 0`,
      `get ${key} 0 ${value}`,
      `list 1 ${key}`,
      `delete ${key} 0`,
      `get ${key} 1`,
      `delete ${key} 1`,
    ])
  })
})

describe.skipIf(!canRpcbind)('rpcinfo against a real rpcbind', () => {
  let rpcbind: ChildProcess | undefined
  let createdFiles: string[] = []
  let server: RunningCli
  const prog = String(KV_PROG)
  const vers = String(KV_VERS)

  beforeAll(async () => {
    if (!(await listening(111))) {
      const before = new Set(
        existsSync('/run/rpcbind') ? readdirSync('/run/rpcbind').map((f) => `/run/rpcbind/${f}`) : [],
      )
      for (const f of ['/run/rpcbind.sock', '/run/rpcbind.lock']) if (existsSync(f)) before.add(f)
      // -f: foreground. Not -h: Debian's rpcbind 1.2.6 aborts with "double free" when given -h, so it
      // binds port 111 on every interface; only these loopback tests talk to it, and it stops after them.
      rpcbind = spawn('rpcbind', ['-f'], { stdio: 'ignore' })
      const end = Date.now() + 5000
      while (!(await listening(111))) {
        if (rpcbind.exitCode !== null || Date.now() > end) throw new Error('rpcbind did not start')
        await new Promise((r) => setTimeout(r, 50))
      }
      createdFiles = [
        '/run/rpcbind.sock',
        '/run/rpcbind.lock',
        '/run/rpcbind/rpcbind.xdr',
        '/run/rpcbind/portmap.xdr',
      ].filter((f) => !before.has(f))
    }
    server = await startCli(['--port', '0', '--register', 'yes'])
  })
  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM')
      await server.exited
    }
    if (rpcbind && rpcbind.exitCode === null) {
      const exited = new Promise((r) => rpcbind!.once('exit', r))
      rpcbind.kill('SIGTERM')
      await exited
    }
    for (const f of createdFiles) rmSync(f, { force: true })
  })

  it('registers on start: rpcinfo -p lists the program on TCP and UDP at the server port', async () => {
    expect(server.lines).toContain(`rpc: registered program ${prog} version ${vers} with rpcbind`)
    const { stdout } = await run('rpcinfo', ['-p', '127.0.0.1'])
    const rows = stdout.split('\n').map((l) => l.trim().split(/\s+/))
    expect(rows).toContainEqual([prog, vers, 'tcp', String(server.port)])
    expect(rows).toContainEqual([prog, vers, 'udp', String(server.port)])
  })

  it.each(['-t', '-u'])('rpcinfo -n PORT %s calls the NULL procedure', async (flag) => {
    const { stdout } = await run('rpcinfo', ['-n', String(server.port), flag, '127.0.0.1', prog, vers])
    expect(stdout.trim()).toBe(`program ${prog} version ${vers} ready and waiting`)
  })

  it('rpcinfo -t without a version asks for a missing one and reads the PROG_MISMATCH range', async () => {
    const result = await run('rpcinfo', ['-t', '127.0.0.1', prog]).catch((e) => e)
    expect(`${result.stdout}${result.stderr}`).toContain(`program ${prog} version ${vers} ready and waiting`)
  })

  it('unregisters when stopped: rpcinfo -p no longer lists it', async () => {
    server.child.kill('SIGTERM')
    expect(await server.exited).toBe(0)
    const { stdout } = await run('rpcinfo', ['-p', '127.0.0.1'])
    expect(stdout).not.toContain(prog)
  })
})
