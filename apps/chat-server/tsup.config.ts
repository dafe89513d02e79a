import { defineConfig } from 'tsup'

export default defineConfig({
  // index: startChatServer() and the buses for tests and the load test; cli: the bin.
  // pooled-handlers: what thread workers and forked children import (handlerModule); load-cli: the load test.
  entry: ['src/index.ts', 'src/cli.ts', 'src/pooled-handlers.ts', 'src/load-cli.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
})
