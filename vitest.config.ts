import { existsSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url))

// In-process tests import packages by name and run against their sources; tests that start
// processes (apps, forked children, workers) run the built `dist/` that `pnpm test` builds first.
// Subpath exports are listed beside their package's main entry: '@socketserver/core/transport'.
const subpaths: Record<string, Record<string, string>> = { core: { transport: 'transport-api.ts' } }
const alias = readdirSync(packagesDir)
  .filter((name) => existsSync(`${packagesDir}${name}/src/index.ts`))
  .flatMap((name) => [
    ...Object.entries(subpaths[name] ?? {}).map(([subpath, file]) => ({
      find: `@socketserver/${name}/${subpath}`,
      replacement: `${packagesDir}${name}/src/${file}`,
    })),
    { find: new RegExp(`^@socketserver/${name}$`), replacement: `${packagesDir}${name}/src/index.ts` },
  ])

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
  },
})
