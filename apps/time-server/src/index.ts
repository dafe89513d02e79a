export {
  DEFAULT_DAYTIME_PORT,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_SNTP_PORT,
  DEFAULT_TIME_PORT,
  SERVICES,
  type ServiceName,
  startTimeServer,
  type TimeListener,
  type TimeServer,
  type TimeServerOptions,
} from './server.js'
export {
  createHandlers,
  createTimeStats,
  GuardedUDPServer,
  type GuardedUDPServerOptions,
  type TimeHandlers,
  type TimeStats,
  TimeTCPServer,
} from './services.js'
export {
  buildSntpReply,
  NTP_PACKET_SIZE,
  parseSntpRequest,
  type SntpRequest,
  type SntpServerConfig,
} from './sntp.js'
export {
  type Clock,
  daytimeString,
  EPOCH_1900_OFFSET,
  rfc868Bytes,
  rfc868Seconds,
  systemClock,
  writeNtpTimestamp,
} from './time.js'
