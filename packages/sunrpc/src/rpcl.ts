/**
 * Reads the numbers of an RPC language (`.x`, RFC 5531 section 12) file: constants, programs,
 * versions and procedures with their argument and result type names. Types themselves are declared
 * in TypeScript with `xdr`; this keeps the numbers in one place, the `.x` that rpcgen also reads.
 */
export interface RpclProcedure {
  name: string
  number: number
  result: string
  args: string[]
}
export interface RpclVersion {
  name: string
  number: number
  procedures: RpclProcedure[]
}
export interface RpclProgram {
  name: string
  number: number
  versions: RpclVersion[]
}
export interface RpclFile {
  constants: Record<string, number>
  programs: RpclProgram[]
}

function stripComments(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/[^\n]*/g, ' ')
    .replace(/^%[^\n]*$/gm, ' ') // rpcgen pass-through lines
    .replace(/^#[^\n]*$/gm, ' ') // preprocessor lines
}

function parseNumber(text: string, constants: Record<string, number>, what: string): number {
  const t = text.trim()
  if (/^-?0x[0-9a-f]+$/i.test(t)) return Number.parseInt(t, 16)
  if (/^-?0[0-7]+$/.test(t)) return Number.parseInt(t, 8)
  if (/^-?\d+$/.test(t)) return Number.parseInt(t, 10)
  const c = constants[t]
  if (c !== undefined) return c
  throw new SyntaxError(`.x: ${what}: ${JSON.stringify(t)} is not a number or a known constant`)
}

/** Parses the constants and program definitions of a `.x` file. */
export function parseRpcl(source: string): RpclFile {
  const text = stripComments(source)
  const constants: Record<string, number> = {}
  for (const m of text.matchAll(/\bconst\s+([A-Za-z_]\w*)\s*=\s*([^;]+);/g)) {
    constants[m[1]!] = parseNumber(m[2]!, constants, `const ${m[1]}`)
  }
  const programs: RpclProgram[] = []
  const programRe = /\bprogram\s+([A-Za-z_]\w*)\s*\{/g
  for (let m = programRe.exec(text); m; m = programRe.exec(text)) {
    const bodyStart = programRe.lastIndex
    const bodyEnd = matchBrace(text, bodyStart - 1)
    const after = /^\s*=\s*([^;]+);/.exec(text.slice(bodyEnd + 1))
    if (!after) throw new SyntaxError(`.x: program ${m[1]} has no "= number;"`)
    const versions: RpclVersion[] = []
    const body = text.slice(bodyStart, bodyEnd)
    const versionRe = /\bversion\s+([A-Za-z_]\w*)\s*\{/g
    for (let v = versionRe.exec(body); v; v = versionRe.exec(body)) {
      const vStart = versionRe.lastIndex
      const vEnd = matchBrace(body, vStart - 1)
      const vAfter = /^\s*=\s*([^;]+);/.exec(body.slice(vEnd + 1))
      if (!vAfter) throw new SyntaxError(`.x: version ${v[1]} has no "= number;"`)
      const procedures: RpclProcedure[] = []
      for (const p of body
        .slice(vStart, vEnd)
        .matchAll(/([A-Za-z_][\w\s*<>]*?)\s+([A-Za-z_]\w*)\s*\(([^)]*)\)\s*=\s*([^;]+);/g)) {
        procedures.push({
          result: p[1]!.trim().replace(/\s+/g, ' '),
          name: p[2]!,
          args: p[3]!
            .split(',')
            .map((a) => a.trim().replace(/\s+/g, ' '))
            .filter((a) => a !== ''),
          number: parseNumber(p[4]!, constants, `procedure ${p[2]}`),
        })
      }
      versions.push({
        name: v[1]!,
        number: parseNumber(vAfter[1]!, constants, `version ${v[1]}`),
        procedures,
      })
      versionRe.lastIndex = vEnd + 1
    }
    programs.push({ name: m[1]!, number: parseNumber(after[1]!, constants, `program ${m[1]}`), versions })
    programRe.lastIndex = bodyEnd + 1
  }
  return { constants, programs }
}

function matchBrace(text: string, open: number): number {
  let depth = 0
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++
    else if (text[i] === '}' && --depth === 0) return i
  }
  throw new SyntaxError('.x: unbalanced braces')
}
