export { DEFAULT_CHILD_ENV_KEYS, defaultChildEnv } from './forked-child.js'
export {
  ForkingMixIn,
  type ForkingServer,
  type ForkingServerClass,
  type ForkingServerOptions,
  type ForkMode,
} from './forking-mixin.js'
