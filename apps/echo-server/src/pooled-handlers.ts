/**
 * The echo handlers as worker threads and child processes load them (`handlerModule` points here):
 * a module that only defines classes, so importing it starts nothing. They take their idle timeout
 * from the environment, which is how the parent configures them (a closure does not cross threads).
 */
import { createDatagramEchoHandler, createEchoHandler } from './echo-handler.js'

export const IDLE_TIMEOUT_ENV = 'SOCKETSERVER_ECHO_IDLE_TIMEOUT'

const idleTimeout = Number(process.env[IDLE_TIMEOUT_ENV] ?? 0) || null

export class PooledEchoHandler extends createEchoHandler({ idleTimeout }) {}
export class PooledDatagramEchoHandler extends createDatagramEchoHandler() {}
