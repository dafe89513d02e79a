import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { connectStream, receiveLine } from '@socketserver/compliance-tests'
import { afterEach, describe, expect, it } from 'vitest'

// Runs the built package (dist/) in a real process, as a user would.
const program = fileURLToPath(new URL('./fixtures/one-file-server.mjs', import.meta.url))
const children = new Set<ChildProcess>()
afterEach(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
})

function run(env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [program], { env: { ...process.env, ...env }, stdio: 'pipe' })
  children.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk) => (stdout += chunk))
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const line = async (n: number) => {
    while (stdout.split('\n').length <= n) {
      if (child.exitCode !== null) throw new Error(`exited: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    return stdout.split('\n')[n - 1]!
  }
  return { child, exited, line, stderr: () => stderr }
}

describe('the one-file pattern (handler and server in one module)', () => {
  it('serves from worker threads that import the same module without starting a server', async () => {
    const server = run()
    const port = Number(await server.line(1))
    const client = await connectStream({ host: '127.0.0.1', port })
    await client.send('hello\n')
    const [thread, text] = (await receiveLine(client)).toString().split(' ')
    expect(text).toBe('HELLO\n')
    expect(Number(thread)).toBeGreaterThan(0) // a worker thread, not the main thread (0)
    await client.close()
    server.child.kill('SIGTERM')
    expect(await server.line(2)).toBe('closed 0')
    expect(await server.exited).toBe(0) // nothing (no thread) keeps the process alive
  })

  it('refuses to start when the module forgets the isHandlerWorker() guard, saying so', async () => {
    const server = run({ UNGUARDED: '1' })
    expect(await server.exited).not.toBe(0)
    expect(server.stderr()).toContain('SOCKSRV_HANDLER_MODULE')
    expect(server.stderr()).toContain('if (!isHandlerWorker())')
  })
})
