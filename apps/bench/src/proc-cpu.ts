import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

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

/** The pids of a process's children, from /proc/<pid>/task/<tid>/children (every thread's). */
function childPids(pid: number): number[] {
  const pids: number[] = []
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim()
      if (text) for (const p of text.split(' ')) pids.push(Number(p))
    } catch {
      // the thread ended
    }
  }
  return pids
}

/**
 * CPU time, ms, of a process and everything under it: its own, what its reaped children used
 * (cutime, cstime), and its live descendants' (recursively). Servers that hand work to child
 * processes (a fork pool, Python's ForkingTCPServer) are charged for it. Undefined without /proc.
 */
export function processTreeCpuMs(pid: number, depth = 0): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime, stime, cutime, cstime
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
    let ms = (ticks * 1000) / clockTicks()
    if (depth < 4) for (const child of childPids(pid)) ms += processTreeCpuMs(child, depth + 1) ?? 0
    return ms
  } catch {
    return depth === 0 ? undefined : 0
  }
}

/** Resident memory of one process, bytes, from /proc/<pid>/status. */
export function rssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s*(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/**
 * Resident memory, bytes, of a process and its live descendants (a fork pool's children), summed:
 * pages they share are counted once per process, as `ps` would. Undefined without /proc.
 */
export function processTreeRssBytes(pid: number, depth = 0): number | undefined {
  const own = rssBytes(pid)
  if (own === undefined) return depth === 0 ? undefined : 0
  let total = own
  if (depth < 4) for (const child of childPids(pid)) total += processTreeRssBytes(child, depth + 1) ?? 0
  return total
}
