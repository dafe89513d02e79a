import type { Scenario } from '../scenario.js'
import { handlerFailures } from './s01-handler-failures.js'
import { slowReader } from './s02-slow-reader.js'
import { slowloris } from './s03-slowloris.js'
import { oversized } from './s04-oversized.js'
import { garbageDatagrams } from './s05-garbage-datagrams.js'
import { descriptorExhaustion } from './s06-descriptors.js'
import { processFaults } from './s07-process-faults.js'
import { gracefulShutdown } from './s08-graceful-shutdown.js'
import { unixSockets } from './s09-unix-sockets.js'
import { accessControl } from './s10-access-control.js'
import { sunrpcHostile } from './s11-sunrpc-hostile.js'
import { tlsHostile } from './s12-tls.js'
import { restart } from './s14-restart.js'

export const scenarios: Scenario[] = [
  handlerFailures,
  slowReader,
  slowloris,
  oversized,
  garbageDatagrams,
  descriptorExhaustion,
  processFaults,
  gracefulShutdown,
  unixSockets,
  accessControl,
  sunrpcHostile,
  tlsHostile,
  restart,
]
