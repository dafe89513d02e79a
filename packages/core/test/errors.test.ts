import { readFileSync } from 'node:fs'
import * as core from '@socketserver/core'
import {
  AccessDeniedError,
  AlreadyServingError,
  BindError,
  ConnectionClosedError,
  FrameTooLargeError,
  formatAddress,
  InvalidArgumentError,
  InvalidStateError,
  LineTooLongError,
  NativeModuleError,
  NoRequestError,
  QueueFullError,
  ReadLimitError,
  ReusePortUnsupportedError,
  ServerClosedError,
  SocketServerError,
  SocketTimeoutError,
} from '@socketserver/core'
import { describe, expect, it } from 'vitest'

const eaddrinuse = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:80'), {
  code: 'EADDRINUSE',
})

// One instance of every error class, with the code it must carry.
const cases: Array<[SocketServerError, string, string]> = [
  [new InvalidArgumentError('bad port'), 'InvalidArgumentError', 'SOCKSRV_INVALID_ARGUMENT'],
  [new BindError({ host: '127.0.0.1', port: 80 }, eaddrinuse), 'BindError', 'SOCKSRV_BIND_FAILED'],
  [new ReusePortUnsupportedError('Node 20'), 'ReusePortUnsupportedError', 'SOCKSRV_REUSE_PORT_UNSUPPORTED'],
  [new AlreadyServingError(), 'AlreadyServingError', 'SOCKSRV_ALREADY_SERVING'],
  [new ServerClosedError(), 'ServerClosedError', 'SOCKSRV_SERVER_CLOSED'],
  [new QueueFullError(8), 'QueueFullError', 'SOCKSRV_QUEUE_FULL'],
  [new SocketTimeoutError('read', 250), 'SocketTimeoutError', 'SOCKSRV_TIMEOUT'],
  [new ConnectionClosedError(), 'ConnectionClosedError', 'SOCKSRV_CONNECTION_CLOSED'],
  [new LineTooLongError(1024), 'LineTooLongError', 'SOCKSRV_LINE_TOO_LONG'],
  [new FrameTooLargeError(5000, 4096), 'FrameTooLargeError', 'SOCKSRV_FRAME_TOO_LARGE'],
  [new ReadLimitError(100), 'ReadLimitError', 'SOCKSRV_READ_LIMIT'],
  [new AccessDeniedError('10.0.0.1', 'deny'), 'AccessDeniedError', 'SOCKSRV_ACCESS_DENIED'],
  [new NoRequestError(), 'NoRequestError', 'SOCKSRV_NO_REQUEST'],
  [new InvalidStateError('one read at a time'), 'InvalidStateError', 'SOCKSRV_INVALID_STATE'],
  [new NativeModuleError('no binary'), 'NativeModuleError', 'SOCKSRV_NATIVE_MODULE'],
]

describe('error classes', () => {
  it.each(cases)('%s is a SocketServerError named %s with code %s', (error, name, code) => {
    expect(error).toBeInstanceOf(SocketServerError)
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe(name)
    expect(error.code).toBe(code)
    expect(error.message.length).toBeGreaterThan(0)
    expect(error.stack).toContain(name)
  })

  it('gives every class its own code', () => {
    expect(new Set(cases.map(([error]) => error.code)).size).toBe(cases.length)
  })

  it('documents every code and every error class in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8')
    const source = readFileSync(new URL('../src/errors.ts', import.meta.url), 'utf8')
    const codes = new Set(source.match(/'SOCKSRV_[A-Z_]+'/g)?.map((quoted) => quoted.slice(1, -1)))
    expect(codes.size).toBeGreaterThanOrEqual(cases.length)
    for (const code of codes) expect(doc, code).toContain(`\`${code}\``)
    const classes = Object.entries(core).filter(
      ([, value]) => typeof value === 'function' && value.prototype instanceof SocketServerError,
    )
    expect(classes.length).toBeGreaterThanOrEqual(cases.length)
    for (const [name] of classes) expect(doc, name).toContain(`\`${name}\``)
  })

  it('BindError keeps the system code as errno, the error as cause and the address', () => {
    const error = new BindError({ host: '::1', port: 8080 }, eaddrinuse)
    expect(error.errno).toBe('EADDRINUSE')
    expect(error.cause).toBe(eaddrinuse)
    expect(error.address).toEqual({ host: '::1', port: 8080 })
    expect(error.message).toContain('[::1]:8080')
    expect(error.message).toContain('EADDRINUSE')
  })

  it('BindError tolerates a cause that is not an Error', () => {
    const error = new BindError('/tmp/sock', 'weird')
    expect(error.errno).toBeUndefined()
    expect(error.message).toContain('weird')
  })

  it('carries the limits that were exceeded', () => {
    expect(new LineTooLongError(1024).limit).toBe(1024)
    expect(new FrameTooLargeError(5000, 4096)).toMatchObject({ declared: 5000, limit: 4096 })
    expect(new ReadLimitError(100).limit).toBe(100)
    expect(new QueueFullError(8).message).toContain('8')
    expect(new SocketTimeoutError('write', 250).message).toBe('write timed out after 250 ms')
  })

  it('ConnectionClosedError keeps its cause only when given one', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
    expect(new ConnectionClosedError(reset).cause).toBe(reset)
    expect('cause' in new ConnectionClosedError()).toBe(false)
  })

  it('a subclass of a subclass keeps its own name', () => {
    class MyBindError extends BindError {}
    expect(new MyBindError('x', eaddrinuse).name).toBe('MyBindError')
  })
})

describe('formatAddress', () => {
  it.each([
    [{ host: '127.0.0.1', port: 80 }, '127.0.0.1:80'],
    [{ address: '::1', port: 443, family: 'IPv6' }, '[::1]:443'],
    [['10.0.0.1', 53], '10.0.0.1:53'],
    ['/tmp/echo.sock', '"/tmp/echo.sock"'],
    ['\0abstract', '"@abstract"'],
    [undefined, 'undefined'],
    [42, '42'],
  ])('formats %j as %s', (address, expected) => {
    expect(formatAddress(address)).toBe(expected)
  })
})
