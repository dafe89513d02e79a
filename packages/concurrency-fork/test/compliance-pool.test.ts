// The shared compliance suite against ForkingMixIn with a pool of two pre-forked children.
import { forkComplianceTests } from './compliance-setups.js'

forkComplianceTests('pool', { forkMode: 'pool', processes: 2 })
