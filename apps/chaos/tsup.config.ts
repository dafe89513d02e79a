import { defineConfig } from 'tsup'

// The runner; the server program every scenario starts in a child process; the load client that
// runs in a process of its own (so its CPU does not skew the runner's timings); and the handlers
// module thread workers and forked children import (handlerModule).
export default defineConfig({
  entry: {
    run: 'src/run.ts',
    server: 'src/servers/main.ts',
    load: 'src/load.ts',
    handlers: 'src/servers/handlers.ts',
  },
  format: ['esm'],
  sourcemap: true,
  clean: true,
  target: 'node20',
})
