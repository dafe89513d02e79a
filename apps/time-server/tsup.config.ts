import { defineConfig } from 'tsup'

export default defineConfig({
  // index: the services and startTimeServer() for in-process tests; cli: the bin.
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
})
