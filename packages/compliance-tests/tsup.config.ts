import { defineConfig } from 'tsup'

export default defineConfig({
  // handlers: the module worker threads and child processes import in remote mode.
  entry: ['src/index.ts', 'src/handlers.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  shims: true, // import.meta.url in the CommonJS build (where the built handlers module is)
})
