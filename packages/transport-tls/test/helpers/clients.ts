// Runs a third-party client (openssl s_client, socat, python3, gnutls-cli): writes `input`, keeps
// its stdin open until the output holds `until` (or it exits), so clients that quit at end of
// input still read the reply; with `stop`, ends the client there.
import { spawn } from 'node:child_process'

export interface ClientRun {
  stdout: string
  stderr: string
  code: number | null
}

export function runClient(
  command: string,
  args: string[],
  {
    input = '',
    until,
    stop = false,
    timeout = 10_000,
  }: { input?: string; until?: string; stop?: boolean; timeout?: number } = {},
): Promise<ClientRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} did not finish in ${timeout} ms; stdout: ${stdout} stderr: ${stderr}`))
    }, timeout)
    child.stdin.on('error', () => {})
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk
      if (until === undefined || !stdout.includes(until)) return
      // `stop`: for clients that wait for the server to close (an echo that never does).
      if (stop) child.kill()
      else child.stdin.end()
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ stdout, stderr, code })
    })
    child.stdin.write(input)
    if (until === undefined) child.stdin.end()
  })
}
