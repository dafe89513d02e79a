import { tcpPingPong } from './tcp-pingpong.js'
import type { Scenario } from './types.js'

export type { Launch, RunSettings, Scenario, ServerSpec } from './types.js'

/** Every scenario `--scenario` accepts; the first is the default. */
export const scenarios: Scenario[] = [tcpPingPong]
