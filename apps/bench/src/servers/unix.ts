import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { BACKLOG, closeRaw, handlers, listenRaw, rawEchoServer, serve } from './common.js'
import type { RunningServer } from './types.js'

/** A socket path in a private temporary directory, removed when the server closes. */
function socketPath(): { file: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'socketserver-bench-'))
  return { file: path.join(dir, 'echo.sock'), remove: () => rmSync(dir, { recursive: true, force: true }) }
}

function removing(server: RunningServer, remove: () => void): RunningServer {
  return {
    ...server,
    close: async () => {
      try {
        await server.close()
      } finally {
        remove()
      }
    },
  }
}

async function rawUnix(): Promise<RunningServer> {
  const { file, remove } = socketPath()
  const server = rawEchoServer()
  await listenRaw(server, { path: file })
  return removing({ port: 0, path: file, close: () => closeRaw(server) }, remove)
}

async function eventLoopUnix(): Promise<RunningServer> {
  const { EventLoopUnixStreamServer } = await import('@socketserver/transport-unix')
  const { file, remove } = socketPath()
  const server = await EventLoopUnixStreamServer.create(file, (await handlers()).StreamEcho, {
    requestQueueSize: BACKLOG,
  })
  return removing(serve(server, 0, file), remove)
}

export const unixServers = {
  'raw-unix': rawUnix,
  'eventloop-unix': eventLoopUnix,
}
