import { InvalidArgumentError } from '@socketserver/core'
import { RpcAuthError, RpcProtocolError, XdrDecodeError } from './errors.js'
import {
  AcceptStat,
  type CallHeader,
  type Credential,
  decodeCall,
  deniedReply,
  errorReply,
  type ReplyBuffer,
  successReply,
} from './message.js'
import { type XdrReaderOptions, type XdrType, xdr } from './xdr.js'

/** What a procedure learns about its call besides the arguments. */
export interface CallContext {
  readonly xid: number
  readonly prog: number
  readonly vers: number
  readonly proc: number
  /** AUTH_NONE (`flavor: 0`) or AUTH_SYS (`flavor: 1`, with `sys`: uid, gid, gids, machinename). Claimed by the client, not proven. */
  readonly cred: Credential
  /** The handler's `clientAddress`: `{ address, port, family }` for IP, a path for Unix sockets. */
  readonly clientAddress: unknown
  readonly transport: 'stream' | 'datagram'
}

/** One procedure: its number, argument and result types, and the function that runs it. */
export interface Procedure<A = any, R = any> {
  readonly number: number
  readonly args: XdrType<A>
  readonly result: XdrType<R>
  readonly run: (args: A, call: CallContext) => R | Promise<R>
}

/** Declares a procedure with typed arguments and result: `run` is checked against the two types. */
export function procedure<A, R>(
  number: number,
  args: XdrType<A>,
  result: XdrType<R>,
  run: (args: A, call: CallContext) => R | Promise<R>,
): Procedure<A, R> {
  if (!Number.isInteger(number) || number < 0 || number > 0xffffffff) {
    throw new InvalidArgumentError(`procedure number ${number} is not an unsigned 32-bit integer`)
  }
  return { number, args, result, run }
}

/** Counters of one program in this process (each worker thread or child process has its own). */
export interface RpcStats {
  /** Calls answered, by outcome. */
  success: number
  progUnavail: number
  progMismatch: number
  procUnavail: number
  garbageArgs: number
  systemErr: number
  rpcMismatch: number
  authError: number
  /** Messages no reply could be given to (`RpcProtocolError`), dropped. */
  dropped: number
  /** Datagram retransmissions answered from the reply cache, and those dropped while the first was running. */
  cacheHits: number
  cacheInFlight: number
}

export interface RpcProgramOptions {
  /** The program number (from the `.x` file: `program X { ... } = 0x20000101;`). */
  number: number
  /** For messages. Default: `'program <number>'`. */
  name?: string
  /**
   * Called when a procedure throws (the call gets SYSTEM_ERR) or its result cannot be encoded.
   * Default: one line on stderr.
   */
  onError?: (error: unknown, call: CallHeader) => void
}

const NULL_PROC = procedure(0, xdr.void, xdr.void, () => undefined)

/**
 * One RPC program: its versions and their procedures. Procedure 0 (NULL) is answered in every
 * version unless declared, as rpcgen's servers do.
 *
 * ```ts
 * const calc = new RpcProgram({ number: 0x20000001, name: 'CALC' }).version(1, {
 *   add: procedure(1, xdr.struct({ a: xdr.int, b: xdr.int }), xdr.int, ({ a, b }) => a + b),
 * })
 * ```
 */
export class RpcProgram {
  readonly number: number
  readonly name: string
  readonly versions = new Map<number, Map<number, Procedure>>()
  readonly procedureNames = new Map<string, { vers: number; proc: number }>()
  readonly stats: RpcStats = {
    success: 0,
    progUnavail: 0,
    progMismatch: 0,
    procUnavail: 0,
    garbageArgs: 0,
    systemErr: 0,
    rpcMismatch: 0,
    authError: 0,
    dropped: 0,
    cacheHits: 0,
    cacheInFlight: 0,
  }
  readonly onError: (error: unknown, call: CallHeader) => void
  #low = Number.POSITIVE_INFINITY
  #high = -1

  constructor(options: RpcProgramOptions) {
    if (!Number.isInteger(options.number) || options.number < 0 || options.number > 0xffffffff) {
      throw new InvalidArgumentError(`program number ${options.number} is not an unsigned 32-bit integer`)
    }
    this.number = options.number
    this.name = options.name ?? `program ${options.number}`
    this.onError =
      options.onError ??
      ((error, call) =>
        process.stderr.write(
          `sunrpc: ${this.name} v${call.vers} procedure ${call.proc} (xid ${call.xid}) failed: ${(error as Error)?.stack ?? error}\n`,
        ))
  }

  /** Adds version `number` with these procedures (by name); procedure numbers must be distinct. */
  version(number: number, procedures: Record<string, Procedure>): this {
    if (this.versions.has(number))
      throw new InvalidArgumentError(`${this.name}: version ${number} declared twice`)
    const table = new Map<number, Procedure>()
    for (const [name, proc] of Object.entries(procedures)) {
      if (table.has(proc.number))
        throw new InvalidArgumentError(`${this.name} v${number}: procedure ${proc.number} declared twice`)
      table.set(proc.number, proc)
      this.procedureNames.set(`${number}.${name}`, { vers: number, proc: proc.number })
    }
    if (!table.has(0)) table.set(0, NULL_PROC)
    this.versions.set(number, table)
    this.#low = Math.min(this.#low, number)
    this.#high = Math.max(this.#high, number)
    return this
  }

  /** Lowest and highest version declared (PROG_MISMATCH reports them). */
  get versionRange(): { low: number; high: number } {
    return { low: this.#low, high: this.#high }
  }
}

/** Options for decoding calls: the XDR limits for the header and arguments. */
export type DispatchOptions = XdrReaderOptions

/**
 * Answers one RPC message for `programs` (by program number). Returns the reply, a promise of it
 * when a procedure is async, or throws `RpcProtocolError` when no reply can be given.
 */
export function dispatchCall(
  programs: ReadonlyMap<number, RpcProgram>,
  message: Buffer,
  clientAddress: unknown,
  transport: 'stream' | 'datagram',
  options?: DispatchOptions,
): ReplyBuffer | Promise<ReplyBuffer> {
  let decoded: ReturnType<typeof decodeCall>
  try {
    decoded = decodeCall(message, options)
  } catch (error) {
    const first = programs.values().next().value as RpcProgram | undefined
    if (first && error instanceof RpcProtocolError) first.stats.dropped++
    throw error
  }
  if (!decoded.ok) {
    // Counted on the program asked for, if it is ours; else on the first.
    const prog = message.length >= 16 ? message.readUInt32BE(12) : -1
    const stats = (programs.get(prog) ?? (programs.values().next().value as RpcProgram | undefined))?.stats
    if (stats) decoded.problem.kind === 'rpc_mismatch' ? stats.rpcMismatch++ : stats.authError++
    return deniedReply(decoded.xid, decoded.problem)
  }
  const { header, reader } = decoded
  const program = programs.get(header.prog)
  if (!program) {
    const first = programs.values().next().value as RpcProgram | undefined
    if (first) first.stats.progUnavail++
    return errorReply(header.xid, AcceptStat.PROG_UNAVAIL)
  }
  const table = program.versions.get(header.vers)
  if (!table) {
    program.stats.progMismatch++
    return errorReply(header.xid, AcceptStat.PROG_MISMATCH, program.versionRange)
  }
  const proc = table.get(header.proc)
  if (!proc) {
    program.stats.procUnavail++
    return errorReply(header.xid, AcceptStat.PROC_UNAVAIL)
  }
  let args: unknown
  try {
    args = proc.args.decode(reader)
  } catch (error) {
    if (!(error instanceof XdrDecodeError)) throw error
    program.stats.garbageArgs++
    return errorReply(header.xid, AcceptStat.GARBAGE_ARGS)
  }
  const call: CallContext = {
    xid: header.xid,
    prog: header.prog,
    vers: header.vers,
    proc: header.proc,
    cred: header.cred,
    clientAddress,
    transport,
  }
  let result: unknown
  try {
    result = proc.run(args, call)
  } catch (error) {
    return failed(program, header, error)
  }
  if (result !== null && typeof (result as Promise<unknown>)?.then === 'function') {
    return (result as Promise<unknown>).then(
      (value) => succeed(program, header, proc, value),
      (error: unknown) => failed(program, header, error),
    )
  }
  return succeed(program, header, proc, result)
}

function succeed(program: RpcProgram, header: CallHeader, proc: Procedure, value: unknown): ReplyBuffer {
  try {
    const reply = successReply(header.xid, proc.result, value)
    program.stats.success++
    return reply
  } catch (error) {
    return failed(program, header, error)
  }
}

function failed(program: RpcProgram, header: CallHeader, error: unknown): ReplyBuffer {
  if (error instanceof RpcAuthError) {
    program.stats.authError++
    return deniedReply(header.xid, { kind: 'auth', stat: error.stat })
  }
  program.stats.systemErr++
  try {
    program.onError(error, header)
  } catch {
    // a failing onError must not lose the reply
  }
  return errorReply(header.xid, AcceptStat.SYSTEM_ERR)
}

/** A map of programs by number, from one program or a list. */
export function programMap(programs: RpcProgram | readonly RpcProgram[]): Map<number, RpcProgram> {
  const list = Array.isArray(programs) ? programs : [programs as RpcProgram]
  const map = new Map<number, RpcProgram>()
  for (const p of list) {
    if (map.has(p.number)) throw new InvalidArgumentError(`program ${p.number} given twice`)
    map.set(p.number, p)
  }
  return map
}
