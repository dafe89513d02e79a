import { RpcProtocolError, XdrDecodeError } from './errors.js'
import { XdrReader, type XdrReaderOptions, type XdrType, XdrWriter } from './xdr.js'

/** RFC 5531 constants. */
export const RPC_VERSION = 2
export const MsgType = { CALL: 0, REPLY: 1 } as const
export const ReplyStat = { MSG_ACCEPTED: 0, MSG_DENIED: 1 } as const
export const AcceptStat = {
  SUCCESS: 0,
  PROG_UNAVAIL: 1,
  PROG_MISMATCH: 2,
  PROC_UNAVAIL: 3,
  GARBAGE_ARGS: 4,
  SYSTEM_ERR: 5,
} as const
export type AcceptStat = (typeof AcceptStat)[keyof typeof AcceptStat]
export const RejectStat = { RPC_MISMATCH: 0, AUTH_ERROR: 1 } as const
export const AuthFlavor = { AUTH_NONE: 0, AUTH_SYS: 1, AUTH_SHORT: 2, AUTH_DH: 3, RPCSEC_GSS: 6 } as const

/** Longest credential or verifier body (RFC 5531: `opaque body<400>`). */
export const MAX_AUTH_BYTES = 400

/** AUTH_SYS (RFC 5531 appendix A, `authsys_parms`): who the caller says it is. Not proof of anything. */
export interface AuthSysParms {
  stamp: number
  machinename: string
  uid: number
  gid: number
  gids: number[]
}

/** The caller's credential as the procedure sees it. Other flavors are refused with AUTH_REJECTEDCRED. */
export type Credential = { flavor: 0 } | { flavor: 1; sys: AuthSysParms }

/** A call's header (RFC 5531 `call_body`), decoded; `argsOffset` is where the arguments start. */
export interface CallHeader {
  xid: number
  rpcvers: number
  prog: number
  vers: number
  proc: number
  cred: Credential
  /** Raw credential flavor (`cred.flavor` is only AUTH_NONE or AUTH_SYS). */
  credFlavor: number
  verfFlavor: number
}

/** An error in the header that still allows a reply (an xid was read and the message is a CALL). */
export type HeaderProblem = { kind: 'rpc_mismatch' } | { kind: 'auth'; stat: number }

export type DecodedCall =
  | { ok: true; header: CallHeader; reader: XdrReader }
  | { ok: false; xid: number; problem: HeaderProblem }

function decodeAuthSys(body: Buffer): AuthSysParms {
  const r = new XdrReader(body, { maxLength: 255 })
  const stamp = r.uint32()
  const machinename = r.bytes(r.length(255, 1, 'machinename'), 'machinename').toString('latin1')
  const uid = r.uint32()
  const gid = r.uint32()
  const n = r.length(16, 4, 'gids')
  const gids: number[] = []
  for (let i = 0; i < n; i++) gids.push(r.uint32())
  r.end('authsys_parms')
  return { stamp, machinename, uid, gid, gids }
}

/**
 * Decodes a call's header. Throws `RpcProtocolError` when no reply is possible (too short for an
 * xid and message type, a REPLY, a malformed header); returns `{ ok: false }` for RPC_MISMATCH and
 * AUTH_ERROR denials, which get a reply.
 */
export function decodeCall(message: Buffer, options?: XdrReaderOptions): DecodedCall {
  const r = new XdrReader(message, options)
  if (message.length < 8) throw new RpcProtocolError(`message of ${message.length} bytes has no call header`)
  const xid = r.uint32()
  const mtype = r.uint32()
  if (mtype !== MsgType.CALL) throw new RpcProtocolError(`message type ${mtype} is not CALL`, xid)
  try {
    const rpcvers = r.uint32()
    if (rpcvers !== RPC_VERSION) return { ok: false, xid, problem: { kind: 'rpc_mismatch' } }
    const prog = r.uint32()
    const vers = r.uint32()
    const proc = r.uint32()
    const credFlavor = r.uint32()
    const credBody = r.bytes(r.length(MAX_AUTH_BYTES, 1, 'credential'), 'credential')
    const verfFlavor = r.uint32()
    r.bytes(r.length(MAX_AUTH_BYTES, 1, 'verifier'), 'verifier')
    let cred: Credential
    if (credFlavor === AuthFlavor.AUTH_NONE) cred = { flavor: 0 }
    else if (credFlavor === AuthFlavor.AUTH_SYS) {
      try {
        cred = { flavor: 1, sys: decodeAuthSys(credBody) }
      } catch {
        return { ok: false, xid, problem: { kind: 'auth', stat: 1 /* AUTH_BADCRED */ } }
      }
    } else return { ok: false, xid, problem: { kind: 'auth', stat: 2 /* AUTH_REJECTEDCRED */ } }
    // libtirpc accepts only an AUTH_NONE verifier with AUTH_NONE and AUTH_SYS credentials.
    if (verfFlavor !== AuthFlavor.AUTH_NONE)
      return { ok: false, xid, problem: { kind: 'auth', stat: 3 /* AUTH_BADVERF */ } }
    return { ok: true, header: { xid, rpcvers, prog, vers, proc, cred, credFlavor, verfFlavor }, reader: r }
  } catch (error) {
    if (error instanceof XdrDecodeError)
      throw new RpcProtocolError(`malformed call header: ${error.message}`, xid)
    throw error
  }
}

/** Bytes reserved in front of every reply for a stream record mark. */
export const RECORD_MARK_BYTES = 4

function replyWriter(xid: number, size = 128): XdrWriter {
  const w = new XdrWriter(size, RECORD_MARK_BYTES)
  w.uint32(xid)
  w.uint32(MsgType.REPLY)
  return w
}

function acceptedHeader(w: XdrWriter, stat: AcceptStat): void {
  w.uint32(ReplyStat.MSG_ACCEPTED)
  w.uint32(AuthFlavor.AUTH_NONE) // verifier: AUTH_NONE, empty
  w.uint32(0)
  w.uint32(stat)
}

/**
 * A reply, built with 4 bytes reserved in front for the record mark: `frame()` gives the stream
 * record (mark filled in, last fragment), `body()` the datagram.
 */
export class ReplyBuffer {
  constructor(readonly bytes: Buffer) {}

  /** The RPC message alone (for datagrams). */
  body(): Buffer {
    return this.bytes.subarray(RECORD_MARK_BYTES)
  }

  /** The message as one stream record: a last-fragment record mark, then the message. */
  frame(): Buffer {
    this.bytes.writeUInt32BE((0x80000000 | (this.bytes.length - RECORD_MARK_BYTES)) >>> 0, 0)
    return this.bytes
  }
}

export function successReply<T>(xid: number, type: XdrType<T>, result: T): ReplyBuffer {
  const w = replyWriter(xid)
  acceptedHeader(w, AcceptStat.SUCCESS)
  type.encode(w, result)
  return new ReplyBuffer(Buffer.from(w.toBuffer()))
}

/** PROG_UNAVAIL, PROC_UNAVAIL, GARBAGE_ARGS, SYSTEM_ERR; or PROG_MISMATCH with the versions supported. */
export function errorReply(
  xid: number,
  stat: AcceptStat,
  mismatch?: { low: number; high: number },
): ReplyBuffer {
  const w = replyWriter(xid, 40)
  acceptedHeader(w, stat)
  if (stat === AcceptStat.PROG_MISMATCH) {
    w.uint32(mismatch?.low ?? 0)
    w.uint32(mismatch?.high ?? 0)
  }
  return new ReplyBuffer(Buffer.from(w.toBuffer()))
}

/** MSG_DENIED: RPC_MISMATCH (supports version 2 only) or AUTH_ERROR with `auth_stat`. */
export function deniedReply(xid: number, denial: HeaderProblem): ReplyBuffer {
  const w = replyWriter(xid, 40)
  w.uint32(ReplyStat.MSG_DENIED)
  if (denial.kind === 'rpc_mismatch') {
    w.uint32(RejectStat.RPC_MISMATCH)
    w.uint32(RPC_VERSION)
    w.uint32(RPC_VERSION)
  } else {
    w.uint32(RejectStat.AUTH_ERROR)
    w.uint32(denial.stat)
  }
  return new ReplyBuffer(Buffer.from(w.toBuffer()))
}

/** Encodes a CALL (for clients: `RpcClient`, the bench, the tests), with 4 bytes reserved for a record mark. */
export function encodeCall<T>(
  call: { xid: number; prog: number; vers: number; proc: number; cred?: Credential; rpcvers?: number },
  type: XdrType<T>,
  args: T,
): ReplyBuffer {
  const w = new XdrWriter(128, RECORD_MARK_BYTES)
  w.uint32(call.xid)
  w.uint32(MsgType.CALL)
  w.uint32(call.rpcvers ?? RPC_VERSION)
  w.uint32(call.prog)
  w.uint32(call.vers)
  w.uint32(call.proc)
  const cred = call.cred ?? { flavor: 0 }
  w.uint32(cred.flavor)
  if (cred.flavor === 1) {
    const body = new XdrWriter(64)
    const { stamp, machinename, uid, gid, gids } = cred.sys
    body.uint32(stamp)
    const name = Buffer.from(machinename, 'latin1')
    body.uint32(name.length)
    body.bytes(name)
    body.uint32(uid)
    body.uint32(gid)
    body.uint32(gids.length)
    for (const g of gids) body.uint32(g)
    const bytes = body.toBuffer()
    w.uint32(bytes.length)
    w.bytes(bytes)
  } else w.uint32(0)
  w.uint32(AuthFlavor.AUTH_NONE)
  w.uint32(0)
  type.encode(w, args)
  return new ReplyBuffer(Buffer.from(w.toBuffer()))
}

/** A reply as a client decodes it. */
export type DecodedReply =
  | { xid: number; status: 'SUCCESS'; reader: XdrReader }
  | { xid: number; status: 'PROG_MISMATCH' | 'RPC_MISMATCH'; low: number; high: number }
  | { xid: number; status: 'AUTH_ERROR'; stat: number }
  | { xid: number; status: 'PROG_UNAVAIL' | 'PROC_UNAVAIL' | 'GARBAGE_ARGS' | 'SYSTEM_ERR' }

const ACCEPT_NAMES = [
  'SUCCESS',
  'PROG_UNAVAIL',
  'PROG_MISMATCH',
  'PROC_UNAVAIL',
  'GARBAGE_ARGS',
  'SYSTEM_ERR',
] as const

export function decodeReply(message: Buffer, options?: XdrReaderOptions): DecodedReply {
  const r = new XdrReader(message, options)
  const xid = r.uint32()
  if (r.uint32() !== MsgType.REPLY) throw new RpcProtocolError('not a REPLY', xid)
  const stat = r.uint32()
  if (stat === ReplyStat.MSG_DENIED) {
    const reject = r.uint32()
    if (reject === RejectStat.RPC_MISMATCH)
      return { xid, status: 'RPC_MISMATCH', low: r.uint32(), high: r.uint32() }
    return { xid, status: 'AUTH_ERROR', stat: r.uint32() }
  }
  r.uint32() // verifier flavor
  r.bytes(r.length(MAX_AUTH_BYTES, 1, 'verifier'))
  const accept = r.uint32()
  const name = ACCEPT_NAMES[accept]
  if (name === undefined) throw new RpcProtocolError(`accept_stat ${accept} unknown`, xid)
  if (name === 'SUCCESS') return { xid, status: name, reader: r }
  if (name === 'PROG_MISMATCH') return { xid, status: name, low: r.uint32(), high: r.uint32() }
  return { xid, status: name }
}
