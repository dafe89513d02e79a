#!/usr/bin/env node
// Runs the pnpm version pinned in package.json's "packageManager", installed or not:
// `node scripts/pnpm.mjs <args>`. This is what lets `npm start` and `npm test` work on a machine
// with only Node (corepack cannot verify registry signatures here).
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const { packageManager } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const version = packageManager.split('@')[1]
const installed = spawnSync('pnpm', ['--version'], { encoding: 'utf8', shell: false })
const [command, args] =
  installed.status === 0 && installed.stdout.trim() === version
    ? ['pnpm', process.argv.slice(2)]
    : ['npx', ['--yes', `pnpm@${version}`, ...process.argv.slice(2)]]
const result = spawnSync(command, args, { stdio: 'inherit' })
if (result.error) {
  console.error(`cannot run ${command}: ${result.error.message}`)
  process.exit(1)
}
process.exit(result.status ?? 1)
