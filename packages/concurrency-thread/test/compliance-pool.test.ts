// The shared compliance suite against ThreadingMixIn with a pool of two worker threads.
import { threadComplianceTests } from './compliance-setups.js'

threadComplianceTests('pool', { threads: 2 })
