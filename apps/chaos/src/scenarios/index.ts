import type { Scenario } from '../scenario.js'
import { handlerFailures } from './s01-handler-failures.js'

export const scenarios: Scenario[] = [handlerFailures]
