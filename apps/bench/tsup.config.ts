import { defineConfig } from 'tsup'

// Three programs: the harness (cli) and the two kinds of child process it starts; and the handlers
// module that the thread and fork pools import in their workers and children.
export default defineConfig({
  entry: {
    cli: 'src/cli.ts',
    server: 'src/servers/main.ts',
    loadgen: 'src/loadgen/main.ts',
    handlers: 'src/servers/handlers.ts',
  },
  format: ['esm'],
  sourcemap: true,
  clean: true,
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
})
