import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}

export interface ProfileEntry {
  name: string
  percent: number
}

export interface ProfileSummary {
  samples: number
  /** Share of samples where the process was idle (waiting in epoll). */
  idlePercent: number
  /** Self time by function (file:function:line), % of busy samples. */
  functions: ProfileEntry[]
  /** Self time by file, % of busy samples. */
  files: ProfileEntry[]
}

/** `file:///work/main/packages/core/dist/index.js` -> `packages/core/dist/index.js`. */
export function shortUrl(url: string): string {
  if (!url) return '(native)'
  const path = url.replace(/^file:\/\//, '')
  const at = path.search(/\/(packages|apps)\//)
  return at >= 0 ? path.slice(at + 1) : path
}

/** Self time per function and per file from a V8 .cpuprofile (what `node --cpu-prof` writes). */
export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] }
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  let total = 0
  let idle = 0
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0
    if (!hits) continue
    total += hits
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)') {
      idle += hits
      continue
    }
    const where = shortUrl(url)
    const fn = functionName || '(anonymous)'
    const key = url ? `${where}:${fn}:${lineNumber + 1}` : fn
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits)
    const fileKey = url ? where : fn
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + hits)
  }
  const busy = total - idle || 1
  const rank = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => ({ name, percent: (hits / busy) * 100 }))
  return {
    samples: total,
    idlePercent: total ? (idle / total) * 100 : 0,
    functions: rank(byFunction),
    files: rank(byFile),
  }
}
