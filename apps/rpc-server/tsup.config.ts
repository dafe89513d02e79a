import { defineConfig } from 'tsup'

export default defineConfig({
  // index: startRpcServer() and the program for the bench and in-process tests; cli: the bin.
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
})
