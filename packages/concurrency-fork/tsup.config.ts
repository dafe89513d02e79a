import { defineConfig } from 'tsup'

export default defineConfig({
  // child.ts is the entry of every forked child process; it must be a file of its own.
  entry: ['src/index.ts', 'src/child.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node20',
})
