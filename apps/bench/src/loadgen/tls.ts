import type net from 'node:net'
import tls from 'node:tls'
import type { RunRequest, RunResult } from '../protocol.js'
import type { LatencyHistogram } from '../stats.js'
import { benchTLS } from '../tls.js'
import { type Opener, tcpConnect } from './tcp-connect.js'
import { tcpPingPong } from './tcp-pingpong.js'

let ca: Buffer | undefined

/** A TLS client trusting the bench CA; its decrypted chunks go through `onread` as node:net's reads do. */
const tlsOpener: Opener = ({ host, port }, onread) => {
  ca ??= benchTLS().ca
  const socket = tls.connect({ host, port, ca, servername: 'localhost' })
  socket.setNoDelay(true)
  socket.on('data', (chunk: Buffer) => {
    for (let at = 0; at < chunk.length; at += onread.buffer.length) {
      if (!onread.callback(chunk.copy(onread.buffer, 0, at))) return
    }
  })
  return { socket: socket as net.Socket, ready: 'secureConnect' }
}

export const tlsPingPong = (req: RunRequest, histogram?: LatencyHistogram): Promise<RunResult> =>
  tcpPingPong(req, histogram, tlsOpener)
export const tlsConnect = (req: RunRequest, histogram?: LatencyHistogram): Promise<RunResult> =>
  tcpConnect(req, histogram, tlsOpener)
