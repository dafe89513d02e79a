import type net from 'node:net'
import type { InetAddress } from '@socketserver/core'
import type { OptionTable } from '@socketserver/core/transport'
import { DatagramRequestHandler, StreamRequestHandler } from '@socketserver/stream-handlers'
import { EventLoopTCPServer } from '@socketserver/transport-tcp'
import {
  EventLoopUDPServer,
  ReflectionGuard,
  type UDPRequest,
  type UDPServerOptions,
} from '@socketserver/transport-udp'
import { buildSntpReply, parseSntpRequest, type SntpServerConfig } from './sntp.js'
import { type Clock, daytimeString, rfc868Bytes } from './time.js'

/** Counters for the shutdown summary and the tests. */
export interface TimeStats {
  /** Replies sent, per service and transport. */
  replies: { timeTcp: number; timeUdp: number; daytimeTcp: number; daytimeUdp: number; sntp: number }
  /** UDP datagrams not answered, by reason. */
  dropped: { sourcePort: number; rateLimited: number; malformed: number }
}

export function createTimeStats(): TimeStats {
  return {
    replies: { timeTcp: 0, timeUdp: 0, daytimeTcp: 0, daytimeUdp: 0, sntp: 0 },
    dropped: { sourcePort: 0, rateLimited: 0, malformed: 0 },
  }
}

/**
 * Source ports of services that answer whatever they receive (echo 7, daytime 13, chargen 19, time
 * 37, NTP 123): answering them could start a reply loop between two servers, or reflect an attack.
 */

export interface ServiceConfig {
  clock: Clock
  stats: TimeStats
  sntp?: SntpServerConfig
}

type TcpHandlerClass = new (request: net.Socket, clientAddress: any, server: any) => StreamRequestHandler
type UdpHandlerClass = new (request: UDPRequest, clientAddress: any, server: any) => DatagramRequestHandler

export interface TimeHandlers {
  TimeTcp: TcpHandlerClass
  DaytimeTcp: TcpHandlerClass
  TimeUdp: UdpHandlerClass
  DaytimeUdp: UdpHandlerClass
  Sntp: UdpHandlerClass
}

/** The handler of each service, reading the time from `clock` and counting into `stats`. */
export function createHandlers({ clock, stats, sntp }: ServiceConfig): TimeHandlers {
  class TimeTcp extends StreamRequestHandler {
    // A client that does not read cannot hold a connection longer than this (ms).
    override timeout = 10_000
    override async handle() {
      await this.wfile.write(rfc868Bytes(clock()))
      stats.replies.timeTcp++
    }
  }
  class DaytimeTcp extends StreamRequestHandler {
    override timeout = 10_000
    override async handle() {
      await this.wfile.write(daytimeString(clock()))
      stats.replies.daytimeTcp++
    }
  }
  class TimeUdp extends DatagramRequestHandler {
    override async handle() {
      await this.wfile.write(rfc868Bytes(clock()))
      stats.replies.timeUdp++
    }
  }
  class DaytimeUdp extends DatagramRequestHandler {
    override async handle() {
      await this.wfile.write(daytimeString(clock()))
      stats.replies.daytimeUdp++
    }
  }
  class Sntp extends DatagramRequestHandler {
    override async handle() {
      const receivedAt = clock()
      const request = parseSntpRequest(this.packet)
      if (!request) {
        stats.dropped.malformed++
        return // no write, no reply
      }
      await this.wfile.write(buildSntpReply(request, receivedAt, clock(), sntp))
      stats.replies.sntp++
    }
  }
  return { TimeTcp, DaytimeTcp, TimeUdp, DaytimeUdp, Sntp }
}

const PEER_GONE = new Set(['SOCKSRV_CONNECTION_CLOSED', 'SOCKSRV_TIMEOUT', 'ECONNRESET', 'EPIPE'])

/** A TCP service that sends and closes: a client leaving before the reply is not worth a stack trace. */
export class TimeTCPServer extends EventLoopTCPServer {
  override handleError(request: net.Socket, clientAddress: InetAddress, error: unknown) {
    if (PEER_GONE.has((error as { code?: string } | null)?.code ?? '')) return
    return super.handleError(request, clientAddress, error)
  }
}

export interface GuardedUDPServerOptions extends UDPServerOptions {
  guard: ReflectionGuard
}

export class GuardedUDPServer extends EventLoopUDPServer {
  static override readonly options: OptionTable = {
    guard: {
      check: (value) => (value instanceof ReflectionGuard ? undefined : 'a ReflectionGuard'),
    },
  }

  // Set by BaseServer from the options table; `declare` so no field initialiser overwrites it.
  declare guard: ReflectionGuard

  override verifyRequest(_request: UDPRequest, clientAddress: InetAddress): boolean {
    return this.guard.allows(clientAddress)
  }
}
