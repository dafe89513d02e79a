import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { ServerReady } from '../protocol.js'
import type { RunningServer } from './types.js'

/** Starts `node dist/server.js <kind>` (this very entry) and resolves with its port once it is ready. */
async function startNode(kind: string, host: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [process.argv[1]!, kind, host], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const [line] = await createInterface({ input: child.stdout! })
    [Symbol.asyncIterator]()
    .next()
    .then((r) => [r.value as string])
  return { child, port: (JSON.parse(line!) as ServerReady).port }
}

/**
 * `nodes` echo servers (each its own process, reading PROXY v2) behind Debian's HAProxy, round
 * robin with `send-proxy-v2`: one "server" to the harness, whose CPU is the whole tree's.
 */
export async function haproxyEcho(host: string, nodes: number): Promise<RunningServer> {
  const started = await Promise.all(
    Array.from({ length: nodes }, () => startNode('eventloop-stream-proxy', host)),
  )
  const probe = net.createServer()
  await new Promise<void>((resolve) => probe.listen(0, host, resolve))
  const port = (probe.address() as net.AddressInfo).port
  await new Promise((resolve) => probe.close(resolve))
  const dir = mkdtempSync(join(tmpdir(), 'bench-haproxy-'))
  const servers = started.map((s, i) => `  server n${i} ${host}:${s.port} send-proxy-v2`).join('\n')
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    `global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\nlisten echo\n  bind ${host}:${port}\n  balance roundrobin\n${servers}\n`,
  )
  const haproxy = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  for (let ready = false; !ready; ) {
    if (haproxy.exitCode !== null) throw new Error(`haproxy exited with ${haproxy.exitCode}`)
    ready = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host, () => resolve(true)).on('error', () => resolve(false))
      socket.unref()
      setTimeout(() => socket.destroy(), 100)
    })
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    port,
    async close() {
      haproxy.kill('SIGTERM')
      for (const { child } of started) child.stdin!.end() // the server contract: exit when stdin closes
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const haproxyServers = {
  'haproxy-echo-1': (host: string) => haproxyEcho(host, 1),
  'haproxy-echo-2': (host: string) => haproxyEcho(host, 2),
}
