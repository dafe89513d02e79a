/** `--proxy-protocol` and `--trusted-proxies`, for `parseArgv`: a server behind a load balancer. */
export const PROXY_ARGS = {
  'proxy-protocol': { type: 'boolean' },
  'trusted-proxies': { type: 'string' },
} as const

/** The usage lines of `PROXY_ARGS`. */
export const PROXY_USAGE = `  --proxy-protocol         Behind a load balancer (HAProxy send-proxy/send-proxy-v2): read a PROXY
                           protocol header on every TCP and TLS connection, to see clients' real
                           addresses.
  --trusted-proxies <list> Comma-separated addresses/CIDRs a header is accepted from (implies
                           --proxy-protocol); other clients are refused.`

/** The servers' `proxyProtocol` option from `PROXY_ARGS`' values: off, on, or on for the trusted proxies only. */
export function proxyProtocolSetting(values: {
  'proxy-protocol'?: boolean | undefined
  'trusted-proxies'?: string | undefined
}): boolean | { trustedProxies: string[] } {
  return values['trusted-proxies']
    ? { trustedProxies: values['trusted-proxies'].split(',').filter(Boolean) }
    : values['proxy-protocol'] === true
}
