// The shared compliance suite against ThreadingMixIn with a new thread per request (Python's semantic).
import { threadComplianceTests } from './compliance-setups.js'

threadComplianceTests('thread per request', { threadPerRequest: true })
