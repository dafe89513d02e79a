import { InvalidArgumentError } from './errors.js'

/**
 * One option: its default and the check its values must pass. `check` returns `undefined` for a
 * good value, or what was expected (`'a positive integer'`) for a bad one.
 */
export interface OptionSpec {
  /** The default, or a function that makes it (for mutable or computed defaults). */
  readonly default?: unknown
  readonly check: (value: unknown) => string | undefined
  /** A constructor-only option: checked, but not copied onto a field. */
  readonly field?: false
}

/** The options a class adds, by name: `static readonly options: OptionTable = { ... }`. */
export type OptionTable = Readonly<Record<string, OptionSpec>>

/**
 * The one convention for options (servers, mix-ins and handlers alike): each class declares the
 * options it adds in a `static readonly options` table (default and check); its fields are
 * `declare`d, never initialised; `applyOptionTables()` merges the tables along the class chain,
 * rejects unknown names and wrongly typed values with `InvalidArgumentError`, and assigns every
 * field once. A field initialiser would run after the base constructor and undo it.
 */
export function applyOptionTables(
  target: object,
  Class: abstract new (...args: any[]) => unknown,
  given: object | undefined,
): void {
  const table = optionTableOf(Class)
  const values = given ?? {}
  if (typeof values !== 'object' || Array.isArray(values)) {
    throw new InvalidArgumentError(`options must be an object; got ${describe(values)}`)
  }
  for (const [name, value] of Object.entries(values)) {
    const spec = table.get(name)
    if (!spec) {
      throw new InvalidArgumentError(
        `${Class.name} has no option '${name}'; its options are: ${[...table.keys()].sort().join(', ')}`,
      )
    }
    if (value !== undefined) checkOption(Class, name, spec, value)
  }
  const fields = target as Record<string, unknown>
  for (const [name, spec] of table) {
    if (spec.field === false) continue
    const value = (values as Record<string, unknown>)[name]
    if (value !== undefined) fields[name] = value
    else if ('default' in spec)
      fields[name] = typeof spec.default === 'function' ? spec.default() : spec.default
  }
}

/**
 * Checks the values `target` has now (own fields and inherited defaults alike) against the option
 * table of `Class` (by default its constructor), throwing `InvalidArgumentError` naming the option,
 * the class and what was expected. For classes whose options are fields set in a subclass body
 * (`override timeout = 30_000`, the request handlers) rather than passed to a constructor. An option
 * without a default may be left `undefined`; one with a default must hold a good value.
 */
export function checkOptionValues(
  target: object,
  Class: abstract new (...args: any[]) => unknown = target.constructor as abstract new (
    ...args: any[]
  ) => unknown,
): void {
  const values = target as Record<string, unknown>
  for (const [name, spec] of optionTableOf(Class)) {
    if (spec.field === false) continue
    const value = values[name]
    if (value === undefined && !('default' in spec)) continue
    checkOption(Class, name, spec, value)
  }
}

/** The one check of one value: throws `InvalidArgumentError` naming the option, the class and what it expected. */
function checkOption(
  Class: abstract new (...args: any[]) => unknown,
  name: string,
  spec: OptionSpec,
  value: unknown,
): void {
  const expected = spec.check(value)
  if (expected !== undefined) {
    throw new InvalidArgumentError(
      `option '${name}' of ${Class.name} must be ${expected}; got ${describe(value)}`,
    )
  }
}

const merged = new WeakMap<object, Map<string, OptionSpec>>()

/** The options of `Class` and its ancestors, the nearest declaration of a name winning. */
export function optionTableOf(Class: abstract new (...args: any[]) => unknown): Map<string, OptionSpec> {
  let table = merged.get(Class)
  if (table) return table
  const chain: OptionTable[] = []
  for (let C: object | null = Class; typeof C === 'function'; C = Object.getPrototypeOf(C) as object | null) {
    const own = Object.getOwnPropertyDescriptor(C, 'options')?.value as OptionTable | undefined
    if (own) chain.unshift(own)
  }
  table = new Map()
  for (const options of chain) for (const [name, spec] of Object.entries(options)) table.set(name, spec)
  merged.set(Class, table)
  return table
}

/** A short, safe rendering of a bad value for an error message. */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`
  return String(value)
}

// --- checks ---------------------------------------------------------------------------------------

/** Options are data: the checks below never accept a function, so an option cannot replace a method. */
export const check = {
  boolean: (value: unknown) => (typeof value === 'boolean' ? undefined : 'true or false'),
  /** A whole number from `min` (default 0) to `max`, or `Infinity` with `infinite`, or `null` with `nullable`. */
  integer:
    ({ min = 0, max = Number.MAX_SAFE_INTEGER, infinite = false, nullable = false } = {}) =>
    (value: unknown) => {
      if (value === null && nullable) return undefined
      if (value === Number.POSITIVE_INFINITY && infinite) return undefined
      if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max)
        return undefined
      return `${max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`}${infinite ? ' or Infinity' : ''}${nullable ? ' or null' : ''}`
    },
  /** A duration in ms (a finite number >= 0), or `null` with `nullable`. */
  ms:
    ({ nullable = false } = {}) =>
    (value: unknown) => {
      if (value === null && nullable) return undefined
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return undefined
      return `a duration in ms (a finite number >= 0)${nullable ? ' or null' : ''}`
    },
  oneOf:
    (...choices: readonly unknown[]) =>
    (value: unknown) =>
      choices.includes(value) ? undefined : `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`,
  /** A plain data object (not a function, not null). */
  object: (value: unknown) =>
    typeof value === 'object' && value !== null && !Array.isArray(value) ? undefined : 'an object',
  stringArray: (value: unknown) =>
    Array.isArray(value) && value.every((item) => typeof item === 'string')
      ? undefined
      : 'an array of strings',
  /** A module reference: a URL object, a URL string or an absolute path. */
  module: (value: unknown) =>
    value instanceof URL || (typeof value === 'string' && value !== '')
      ? undefined
      : 'a module URL (import.meta.url), a URL object or an absolute path',
  string: (value: unknown) => (typeof value === 'string' && value !== '' ? undefined : 'a non-empty string'),
  /** Any value but a function (options hold data). */
  data: (value: unknown) => (typeof value === 'function' ? 'a value, not a function' : undefined),
} as const
