import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

let ticksPerSecond: number | undefined

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/**
 * CPU time (user + system, all threads) a process has used so far, in ms, read from
 * /proc/<pid>/stat: works for a server in any language. Undefined where there is no /proc.
 */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    return ((utime + stime) * 1000) / clockTicks()
  } catch {
    return undefined
  }
}

/**
 * Times the process's main thread has gone to sleep (voluntary context switches) so far, from
 * /proc/<pid>/status. Per request, it tells a server that keeps busy from one that waits for every
 * message, where each wake-up costs far more than the work.
 */
export function processSleeps(pid: number): number | undefined {
  try {
    const match = /^voluntary_ctxt_switches:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}
