import { defineConfig } from 'tsup'

// ESM only: its users are the demo apps, which are ES modules.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
})
