import { defineConfig } from 'tsup'

export default defineConfig({
  // worker.ts is the worker thread's entry: the pool starts dist/worker.js next to dist/index.js.
  entry: ['src/index.ts', 'src/worker.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node20',
})
