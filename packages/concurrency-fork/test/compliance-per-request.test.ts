// The shared compliance suite against ForkingMixIn with a new child per request (Python's semantic).
import { forkComplianceTests } from './compliance-setups.js'

forkComplianceTests('child per request', { forkMode: 'per-request' })
