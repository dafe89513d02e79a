import { defineConfig } from 'tsup'

export default defineConfig({
  // index: startChatServer() and the buses for tests and the load test; cli: the bin.
  // pooled-handlers: what thread workers and forked children import (handlerModule).
  entry: ['src/index.ts', 'src/cli.ts', 'src/pooled-handlers.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
})
