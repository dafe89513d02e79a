import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, mkdtempSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const run = promisify(execFile)
export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
export const KV_X = fileURLToPath(new URL('../kv.x', import.meta.url))
const CLIENT_C = fileURLToPath(new URL('./fixtures/kv_client.c', import.meta.url))

/** Builds rpcgen's client stubs from kv.x and the test's C client into a new temp dir. */
export async function buildCClient(): Promise<{ dir: string; client: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kv-rpcgen-'))
  copyFileSync(KV_X, join(dir, 'kv.x'))
  copyFileSync(CLIENT_C, join(dir, 'kv_client.c'))
  for (const [flag, out] of [
    ['-h', 'kv.h'],
    ['-c', 'kv_xdr.c'],
    ['-l', 'kv_clnt.c'],
  ] as const) {
    await run('rpcgen', [flag, 'kv.x', '-o', out], { cwd: dir })
  }
  const client = join(dir, 'kv_client')
  await run(
    'cc',
    [
      '-O1',
      '-w',
      '-I/usr/include/tirpc',
      '-I.',
      '-o',
      client,
      'kv_client.c',
      'kv_clnt.c',
      'kv_xdr.c',
      '-ltirpc',
    ],
    { cwd: dir },
  )
  return { dir, client }
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

export interface RunningCli {
  child: ChildProcess
  lines: string[]
  port: number
  exited: Promise<number | null>
}

/** Starts the CLI and waits for its listening and registration lines. */
export async function startCli(args: string[]): Promise<RunningCli> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const lines: string[] = []
  let buffered = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk
    const parts = buffered.split('\n')
    buffered = parts.pop()!
    lines.push(...parts)
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const end = Date.now() + 10_000
  while (!lines.some((l) => l.includes('rpcbind'))) {
    if (child.exitCode !== null || Date.now() > end)
      throw new Error(`the CLI did not start: ${stderr}${lines.join('\n')}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  const match = /listening on tcp 127\.0\.0\.1:(\d+)/.exec(lines.join('\n'))
  if (!match) throw new Error(`no tcp listening line: ${lines.join('\n')}`)
  return { child, lines, port: Number(match[1]), exited }
}
