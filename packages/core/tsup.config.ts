import { defineConfig } from 'tsup'

export default defineConfig({
  // Two entries sharing one copy of the code: splitting (also for CJS) keeps each class defined
  // once, so instanceof and private fields work across '@socketserver/core' and its subpath.
  entry: { index: 'src/index.ts', transport: 'src/transport-api.ts' },
  format: ['esm', 'cjs'],
  splitting: true,
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
})
