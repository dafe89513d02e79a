import type net from 'node:net'
import type { InetAddress } from '@socketserver/core'
import { DatagramRequestHandler, StreamRequestHandler } from '@socketserver/stream-handlers'
import { EventLoopTCPServer } from '@socketserver/transport-tcp'
import { EventLoopUDPServer, type UDPRequest, type UDPServerOptions } from '@socketserver/transport-udp'
import { rateLimitKey, type TokenBucketLimiter } from './rate-limit.js'
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
export const WELL_KNOWN_SOURCE_PORTS: readonly number[] = [7, 13, 19, 37, 123]

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

/** Decides which datagrams the UDP services answer. */
export interface UdpGuard {
  /** Source ports never answered. */
  blockedSourcePorts: ReadonlySet<number>
  /** Per-source limit (keyed by `rateLimitKey`: the IPv4 address or the IPv6 /64); `undefined` answers every datagram. */
  limiter: TokenBucketLimiter | undefined
  stats: TimeStats
}

export interface GuardedUDPServerOptions extends UDPServerOptions {
  guard: UdpGuard
}

/**
 * A UDP service that refuses, in `verifyRequest`, datagrams from well-known service ports and
 * sources over their rate: what keeps it from looping with another server or amplifying floods.
 */
export class GuardedUDPServer extends EventLoopUDPServer {
  // Set by BaseServer from the options; `declare` so no field initialiser overwrites it.
  declare guard: UdpGuard

  override verifyRequest(_request: UDPRequest, clientAddress: InetAddress): boolean {
    const { blockedSourcePorts, limiter, stats } = this.guard
    if (blockedSourcePorts.has(clientAddress.port)) {
      stats.dropped.sourcePort++
      return false
    }
    if (limiter && !limiter.take(rateLimitKey(clientAddress.address))) {
      stats.dropped.rateLimited++
      return false
    }
    return true
  }
}
