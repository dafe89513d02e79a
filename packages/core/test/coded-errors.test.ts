import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// Every error this project throws or rejects with on purpose is a coded `SocketServerError`
// (docs/errors.md lists the codes). This test scans the packages' sources for plain errors made
// by hand: `throw new Error(`, `Promise.reject(new Error(`, `new RangeError(`, `new TypeError(`,
// and any other `new Error(` (an error handed to a callback or built over several lines is as
// deliberate as a thrown one).
//
// Allowed: a line carrying the marker below, or right below a line that is that comment alone.
// Allowed by it: It is for imitations of Node's system errors (an
// `Error` with `code: 'ENOENT'`, `syscall`, ... for a condition we detect ourselves), which callers
// handle as they handle Node's own: those are not errors of ours and keep Node's shape.
const MARKER = "// a system error, as Node's"

// Files whose plain errors are test data, not errors of the library:
const EXEMPT = new Map([
  // The compliance suite's test handlers throw `new Error('boom')` on purpose: they stand for a
  // user's handler, whose errors are the user's own (uncoded), and the suite checks that such an
  // error reaches handleError() unchanged. Coding them would test a different case.
  ['compliance-tests/src/handlers.ts', 'test handlers that throw as a user handler would'],
  // waitFor() is a test's deadline: its error is a failed test that vitest reports, like a failed
  // expect(), never an error a server's user handles.
  ['compliance-tests/src/util.ts', "a test deadline's failure, reported by vitest"],
])

const PLAIN_ERROR = /(?<![\w$.#])(?:new\s+)?(?:Range|Type)?Error\s*\(/

/** `file:line: text` for each line of `source` that makes a plain error without the marker. */
export function plainErrors(file: string, source: string): string[] {
  const found: string[] = []
  const lines = source.split('\n')
  lines.forEach((line, index) => {
    const code = line.trim()
    if (code.startsWith('//') || code.startsWith('*') || code.startsWith('/*')) return // comments
    const marked = code.includes(MARKER) || lines[index - 1]?.trim() === MARKER
    if (PLAIN_ERROR.test(code) && !marked) found.push(`${file}:${index + 1}: ${code}`)
  })
  return found
}

const packagesDir = fileURLToPath(new URL('../../', import.meta.url))

function sourceFiles(): string[] {
  const files: string[] = []
  for (const pkg of readdirSync(packagesDir, { withFileTypes: true })) {
    if (!pkg.isDirectory()) continue
    let entries: string[]
    try {
      entries = readdirSync(`${packagesDir}${pkg.name}/src`, { recursive: true, encoding: 'utf8' })
    } catch {
      continue // a package without src/
    }
    for (const entry of entries) {
      if (entry.endsWith('.ts') && !entry.endsWith('.d.ts')) files.push(`${pkg.name}/src/${entry}`)
    }
  }
  return files.sort()
}

describe('coded errors', () => {
  it('finds no plain Error, RangeError or TypeError made on purpose in packages/*/src', () => {
    const files = sourceFiles()
    expect(files.length).toBeGreaterThan(20)
    const found = files
      .filter((file) => !EXEMPT.has(file))
      .flatMap((file) => plainErrors(`packages/${file}`, readFileSync(`${packagesDir}${file}`, 'utf8')))
    expect(found, `make these coded SocketServerErrors (docs/errors.md):\n${found.join('\n')}`).toEqual([])
  })

  it('exempts only files that exist', () => {
    for (const file of EXEMPT.keys()) expect(sourceFiles()).toContain(file)
  })

  it('flags each way of making a plain error, and allows the system-error marker', () => {
    const source = [
      "throw new Error('x')",
      "  return Promise.reject(new Error('x'))",
      '    throw new RangeError(`rate`)',
      "if (!ok) throw new TypeError('x')",
      'callback(new Error(',
      "throw Error('no new')",
      `Object.assign(new Error('ENOENT: gone'), { code: 'ENOENT' }) ${MARKER}`,
      `  ${MARKER}`,
      "  new Error('ENOENT: gone'),",
      `  ${MARKER} (not alone on its line: marks only itself)`,
      "  new Error('not marked'),",
      "throw new InvalidArgumentError('x')",
      'reportListenerError(server, error)',
      '#onError(error: Error): void {',
      "// throw new Error('in a comment')",
      " * throw new Error('in a doc comment')",
    ].join('\n')
    expect(plainErrors('f.ts', source).map((hit) => hit.split(':')[1])).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
      '11',
    ])
  })
})
