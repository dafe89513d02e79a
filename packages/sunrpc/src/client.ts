import dgram from 'node:dgram'
import net from 'node:net'
import { RpcCallError } from './errors.js'
import { type Credential, decodeReply, encodeCall } from './message.js'
import { type XdrType, xdr } from './xdr.js'

export interface RpcClientOptions {
  host: string
  port: number
  transport: 'tcp' | 'udp'
  /** How long a call may wait for its reply, in ms; then it rejects with `RpcCallError` (`'TIMEOUT'`). Default: `5000`. */
  timeout?: number
  /** UDP: resend an unanswered call after this long, in ms (same xid). Default: `1000`. */
  retransmit?: number
  /** The credential sent with every call. Default: AUTH_NONE. */
  cred?: Credential
  /** Largest reply record accepted over TCP, in bytes. Default: `1048576`. */
  maxRecordSize?: number
}

interface Pending {
  resolve(message: Buffer): void
  reject(error: Error): void
  timer: NodeJS.Timeout
  resend?: NodeJS.Timeout
}

/**
 * A small ONC RPC client over TCP or UDP (for rpcbind registration, tests and the benchmark's load
 * generator): many calls in flight, matched by xid.
 */
export class RpcClient {
  readonly options: Required<Omit<RpcClientOptions, 'cred'>> & { cred?: Credential }
  #xid = (Math.random() * 0x7fffffff) >>> 0
  readonly #pending = new Map<number, Pending>()
  #tcp: net.Socket | undefined
  #udp: dgram.Socket | undefined
  #buffer: Buffer = Buffer.alloc(0)
  #fragments: Buffer[] = []
  #closed = false

  private constructor(options: RpcClientOptions) {
    this.options = { timeout: 5000, retransmit: 1000, maxRecordSize: 1024 * 1024, ...options }
  }

  static async connect(options: RpcClientOptions): Promise<RpcClient> {
    const client = new RpcClient(options)
    await client.#open()
    return client
  }

  async #open(): Promise<void> {
    const { host, port, transport } = this.options
    if (transport === 'tcp') {
      const socket = net.connect({ host, port })
      socket.setNoDelay(true)
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', reject)
      })
      socket.on('error', (error) => this.#failAll(error))
      socket.on('close', () => this.#failAll(new RpcCallError('CONNECTION_CLOSED')))
      socket.on('data', (chunk) => this.#onStreamData(chunk))
      this.#tcp = socket
    } else {
      const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        socket.connect(port, host, () => {
          socket.off('error', reject)
          resolve()
        })
      })
      socket.on('error', (error) => this.#failAll(error))
      socket.on('message', (message) => this.#onMessage(message))
      this.#udp = socket
    }
  }

  #onStreamData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
    while (this.#buffer.length >= 4) {
      const mark = this.#buffer.readUInt32BE(0)
      const length = mark & 0x7fffffff
      if (length > this.options.maxRecordSize) {
        this.#tcp?.destroy(new RpcCallError('REPLY_TOO_LARGE', length))
        return
      }
      if (this.#buffer.length < 4 + length) return
      this.#fragments.push(this.#buffer.subarray(4, 4 + length))
      this.#buffer = this.#buffer.subarray(4 + length)
      if (mark & 0x80000000) {
        const message = this.#fragments.length === 1 ? this.#fragments[0]! : Buffer.concat(this.#fragments)
        this.#fragments = []
        this.#onMessage(message)
      }
    }
  }

  #onMessage(message: Buffer): void {
    if (message.length < 8) return
    const xid = message.readUInt32BE(0)
    const pending = this.#pending.get(xid)
    if (!pending) return // a late duplicate
    this.#pending.delete(xid)
    clearTimeout(pending.timer)
    clearInterval(pending.resend)
    pending.resolve(message)
  }

  #failAll(error: Error): void {
    for (const [xid, pending] of this.#pending) {
      this.#pending.delete(xid)
      clearTimeout(pending.timer)
      clearInterval(pending.resend)
      pending.reject(error)
    }
  }

  /** Sends raw bytes (already framed for TCP) and resolves with the reply message matching `xid`. */
  raw(xid: number, bytes: Buffer): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new RpcCallError('CLIENT_CLOSED'))
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(xid)
        clearInterval(entry.resend)
        reject(new RpcCallError('TIMEOUT', { xid, ms: this.options.timeout }))
      }, this.options.timeout)
      const entry: Pending = { resolve, reject, timer }
      this.#pending.set(xid, entry)
      if (this.#tcp) this.#tcp.write(bytes)
      else {
        const udp = this.#udp!
        udp.send(bytes)
        entry.resend = setInterval(() => udp.send(bytes), this.options.retransmit)
      }
    })
  }

  /** Calls `proc` of `prog` version `vers`; resolves with the decoded result or rejects with `RpcCallError`. */
  async call<A, R>(
    prog: number,
    vers: number,
    proc: number,
    argType: XdrType<A>,
    args: A,
    resultType: XdrType<R>,
    options: { cred?: Credential; rpcvers?: number } = {},
  ): Promise<R> {
    const xid = (this.#xid = (this.#xid + 1) >>> 0)
    const call = encodeCall(
      { xid, prog, vers, proc, cred: options.cred ?? this.options.cred, rpcvers: options.rpcvers },
      argType,
      args,
    )
    const message = await this.raw(xid, this.#tcp ? call.frame() : call.body())
    const reply = decodeReply(message)
    if (reply.status !== 'SUCCESS') {
      const { xid: _xid, status, ...detail } = reply
      throw new RpcCallError(status, Object.keys(detail).length > 0 ? detail : undefined)
    }
    const result = resultType.decode(reply.reader)
    return result
  }

  /** Calls procedure 0 (NULL). */
  ping(prog: number, vers: number): Promise<void> {
    return this.call(prog, vers, 0, xdr.void, undefined, xdr.void)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#failAll(new RpcCallError('CLIENT_CLOSED'))
    this.#tcp?.destroy()
    this.#udp?.close()
  }

  [Symbol.dispose](): void {
    this.close()
  }
}
