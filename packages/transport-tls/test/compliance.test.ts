import { serverComplianceTests, streamIO, tlsSetup } from '@socketserver/compliance-tests'
import { EventLoopTLSServer, TLSServer } from '../src/index.js'
import { trust, withCertificate } from './helpers/compliance.js'

// Every TLS server class, over IPv4 and IPv6, runs the shared suite with a TLS client.
for (const Server of [TLSServer, EventLoopTLSServer]) {
  for (const host of ['127.0.0.1', '::1']) {
    serverComplianceTests<TLSServer>({
      name: `${Server.name} on ${host}`,
      Server: withCertificate(Server),
      concurrency: Server === TLSServer ? 'one-at-a-time' : 'concurrent',
      io: streamIO,
      bindLeakIterations: 200, // each also makes a secure context; 200 show a leak too
      ...tlsSetup(host, trust),
    })
  }
}
