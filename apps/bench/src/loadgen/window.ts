import { performance } from 'node:perf_hooks'

export interface WindowStats {
  cpuUserUs: number
  cpuSystemUs: number
  voluntaryContextSwitches: number
  eventLoopUtilization: number
}

/** Starts measuring the load generator's own cost; call the result at the end of the window. */
export function beginWindow(): () => WindowStats {
  const cpu0 = process.cpuUsage()
  const sleeps0 = process.resourceUsage().voluntaryContextSwitches
  const elu0 = performance.eventLoopUtilization()
  return () => {
    const cpu = process.cpuUsage(cpu0)
    return {
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      voluntaryContextSwitches: process.resourceUsage().voluntaryContextSwitches - sleeps0,
      eventLoopUtilization: performance.eventLoopUtilization(elu0).utilization,
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
