#!/usr/bin/env node
// Code samples in the docs must not rot: every ```ts and ```js block of the READMEs (root, packages,
// apps) and of docs/ is written to its own module under .cache/doc-samples/ and type-checked, strict,
// against the built packages (`@socketserver/<name>` resolves to packages/<name>/dist, the .d.ts a
// user gets). A block that is deliberately a fragment says so in its fence: ```ts fragment (GitHub
// still highlights it). Run after `pnpm build`. Exits non-zero on any error, naming file and line.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))
const out = join(root, '.cache/doc-samples')

// Without the declarations, `paths` would fall back to dist/*.js and report that code instead.
const unbuilt = readdirSync(join(root, 'packages')).filter(
  (dir) =>
    existsSync(join(root, 'packages', dir, 'package.json')) &&
    !existsSync(join(root, 'packages', dir, 'dist/index.d.ts')),
)
if (unbuilt.length > 0) {
  console.error(`not built: ${unbuilt.join(', ')}; run pnpm build first`)
  process.exit(1)
}

function markdownFiles() {
  const files = [join(root, 'README.md')]
  for (const group of ['packages', 'apps']) {
    for (const dir of readdirSync(join(root, group))) {
      const readme = join(root, group, dir, 'README.md')
      if (existsSync(readme)) files.push(readme)
    }
  }
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory() && entry.name !== 'api') walk(path)
      else if (entry.name.endsWith('.md')) files.push(path)
    }
  }
  if (existsSync(join(root, 'docs'))) walk(join(root, 'docs'))
  return files
}

const languages = { ts: 'ts', typescript: 'ts', js: 'mjs', javascript: 'mjs', mjs: 'mjs' }
const samples = []
let fragments = 0
for (const file of markdownFiles()) {
  const lines = readFileSync(file, 'utf8').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)(.*)$/.exec(lines[i])
    if (!open) continue
    let end = i + 1
    while (end < lines.length && !lines[end].startsWith('```')) end++
    const extension = languages[open[1]]
    if (extension && /\bfragment\b/.test(open[2])) fragments++
    else if (extension)
      samples.push({ file, line: i + 2, extension, code: lines.slice(i + 1, end).join('\n') })
    i = end
  }
}

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
const origin = new Map()
for (const [index, sample] of samples.entries()) {
  const name = `${relative(root, sample.file).replace(/[^\w]+/g, '_')}_L${sample.line}_${index}.${sample.extension}`
  origin.set(name, sample)
  writeFileSync(join(out, name), `${sample.code}\n`)
}
// Each sample is an ES module of its own (top-level await, `export class ...` as the docs show).
writeFileSync(join(out, 'package.json'), '{ "type": "module", "private": true }\n')
const packagesDir = relative(out, join(root, 'packages'))
const appsDir = relative(out, join(root, 'apps'))
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'ESNext.Disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        allowJs: true,
        checkJs: true,
        skipLibCheck: true,
        types: ['node'],
        // What `npm install @socketserver/<name>` would give: the built declarations.
        // (Apps too: their READMEs show their own exports.)
        paths: { '@socketserver/*': [`${packagesDir}/*/dist/index.d.ts`, `${appsDir}/*/dist/index.d.ts`] },
      },
      include: ['*.ts', '*.mjs'],
    },
    null,
    2,
  ),
)

const tsc = join(root, 'node_modules/typescript/bin/tsc')
const result = spawnSync(process.execPath, [tsc, '-p', out, '--pretty', 'false'], { encoding: 'utf8' })
const errors = (result.stdout + result.stderr).split('\n').filter((line) => line.trim() !== '')
// Point each error back at the markdown file and line.
for (const line of errors) {
  const match = /^(?:.*\/)?([^/(]+)\((\d+),(\d+)\): (.*)$/.exec(line)
  const sample = match && origin.get(match[1])
  if (sample)
    console.error(`${relative(root, sample.file)}:${sample.line + Number(match[2]) - 1}: ${match[4]}`)
  else console.error(line)
}
const failed = new Set(
  errors.map((line) => /^(?:.*\/)?([^/(]+)\(/.exec(line)?.[1]).filter((n) => origin.has(n)),
)
console.log(
  `doc samples: ${samples.length - failed.size} of ${samples.length} type-check against the built packages` +
    (fragments ? ` (${fragments} marked fragment, skipped)` : ''),
)
process.exit(result.status === 0 ? 0 : 1)
