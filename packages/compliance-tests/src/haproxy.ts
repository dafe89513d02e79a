// Debian's HAProxy, started by tests and demos on loopback: a generated configuration in a temp
// directory, `haproxy -f cfg -db` in the foreground, stopped by its PID.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InvalidStateError } from '@socketserver/core'

/** A port free on 127.0.0.1 now (the kernel's pick; closed again before it is returned). */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface HAProxy {
  readonly process: ChildProcess
  /** The directory holding the configuration (and any file the caller put there). */
  readonly dir: string
  /** What HAProxy printed (warnings, health-check transitions). */
  readonly output: () => string
  stop(): Promise<void>
}

/**
 * Starts HAProxy with `sections` (frontends, backends, listens; `global` and `defaults` for TCP
 * mode are added) and resolves once every port in `ports` accepts connections. `files` are written
 * to the configuration's directory first (certificates); `{dir}` in `sections` names it.
 */
export async function startHAProxy(
  sections: string,
  ports: readonly number[],
  files: Readonly<Record<string, string>> = {},
): Promise<HAProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'haproxy-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  const config = `global
  maxconn 4096
  log stderr format short local0 notice
defaults
  mode tcp
  log global
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout check 1s
${sections.replaceAll('{dir}', dir)}
`
  writeFileSync(join(dir, 'haproxy.cfg'), config)
  const child = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk))
  const exited = once(child, 'exit')
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports) await waitForPort(port, child, () => output)
  } catch (error) {
    await stop()
    throw error
  }
  return { process: child, dir, output: () => output, stop }
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null)
      throw new InvalidStateError(`haproxy exited (${child.exitCode}): ${output()}`)
    const socket = net.connect(port, '127.0.0.1')
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true))
      socket.once('error', () => resolve(false))
      socket.setTimeout(500, () => resolve(false))
    })
    socket.destroy()
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new InvalidStateError(`haproxy did not listen on ${port}: ${output()}`)
}
