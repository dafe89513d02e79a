import { defineConfig } from 'tsup'

export default defineConfig({
  // index: the handler and startEchoServer() for the bench and in-process tests; cli: the bin.
  // pooled-handlers: what thread workers and forked children import (handlerModule).
  entry: ['src/index.ts', 'src/cli.ts', 'src/pooled-handlers.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
})
