import { readFileSync } from 'node:fs'
import { UsageError } from './options.js'

/** `--cert` and `--key`, for `parseArgv`: the PEM files of a TLS listener. */
export const TLS_ARGS = {
  cert: { type: 'string' },
  key: { type: 'string' },
} as const

/** The usage lines of `TLS_ARGS`. */
export const TLS_USAGE = `  --cert <file>            PEM certificate (chain) of the TLS listeners.
  --key <file>             PEM private key of the TLS listeners. A development pair:
                           openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
                             -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost
                             -addext subjectAltName=DNS:localhost,IP:127.0.0.1`

/**
 * The key and certificate `--key` and `--cert` name, read now (a missing file is a usage error,
 * not a crash at the first connection); `undefined` when neither is given. `needed` names what
 * requires them (`'tls: listeners'`), making their absence a usage error too.
 */
export function tlsFiles(
  values: { cert?: string | undefined; key?: string | undefined },
  needed?: string,
): { key: Buffer; cert: Buffer } | undefined {
  if (values.cert === undefined && values.key === undefined) {
    if (needed) throw new UsageError(`${needed} need --cert and --key`)
    return undefined
  }
  if (values.cert === undefined || values.key === undefined)
    throw new UsageError('--cert and --key go together')
  const read = (option: string, path: string) => {
    try {
      return readFileSync(path)
    } catch (error) {
      throw new UsageError(
        `${option} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      )
    }
  }
  return { cert: read('--cert', values.cert), key: read('--key', values.key) }
}
