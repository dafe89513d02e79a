import type { Scenario } from './types.js'

export const tcpPingPong: Scenario = {
  name: 'tcp-pingpong',
  description: 'TCP echo ping-pong on 127.0.0.1: each connection keeps one message in flight',
  workload: 'tcp-pingpong',
  servers: [
    {
      id: 'eventloop-stream',
      label: 'EventLoopTCPServer + StreamRequestHandler (rfile.copyTo)',
      launch: { node: 'eventloop-stream' },
    },
    {
      id: 'eventloop-stream-await',
      label: 'EventLoopTCPServer + StreamRequestHandler (await read1/write)',
      launch: { node: 'eventloop-stream-await' },
    },
    { id: 'raw-net', label: 'raw node:net', launch: { node: 'raw-net' } },
    {
      id: 'eventloop-socket',
      label: 'EventLoopTCPServer + BaseRequestHandler (socket events)',
      launch: { node: 'eventloop-socket' },
    },
    {
      id: 'tcpserver-stream',
      label: 'TCPServer + StreamRequestHandler',
      launch: { node: 'tcpserver-stream' },
      connections: 1,
      note:
        'TCPServer serves one connection at a time (Python semantic): with 50 connections 49 would wait ' +
        'for the whole round, so it runs with 1 connection and is not compared with the other rows.',
    },
  ],
  defaultServers: ['eventloop-stream', 'raw-net', 'eventloop-stream-await', 'tcpserver-stream'],
  full: { rounds: 5, durationMs: 3_000, warmupMs: 1_000, connections: 50, messageSize: 64 },
  smoke: { rounds: 2, durationMs: 400, warmupMs: 200, connections: 50, messageSize: 64 },
  compare: { subject: 'eventloop-stream', baseline: 'raw-net', target: 0.95 },
}
