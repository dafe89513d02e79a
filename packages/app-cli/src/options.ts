import { type ParseArgsConfig, parseArgs } from 'node:util'

/** A bad command line: `runCli` prints the message and a hint, and exits 2. */
export class UsageError extends Error {}

/** The longest delay `setTimeout` takes: the bound of options in milliseconds. */
export const MAX_TIMER_MS = 2 ** 31 - 1

type OptionsConfig = NonNullable<ParseArgsConfig['options']>

/** What `parseArgv` returns for `options`: each option's value, typed by its config. */
export type ArgvValues<T extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>
>['values']

/**
 * `parseArgs` with `strict` and no positionals; its error becomes a `UsageError` holding only its
 * first sentence, lower-cased (`unknown option '--x'`): parseArgs explains in several, one about
 * positionals; the first says what is wrong.
 */
export function parseArgv<const T extends OptionsConfig>(argv: string[], options: T): ArgvValues<T> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values
  } catch (error) {
    const message = (error as Error).message.split(/\.\s/)[0]!.replace(/\s+/g, ' ')
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1))
  }
}

/** `raw` as a whole number from `min` to `max`, `fallback` when absent; else a `UsageError` naming `name`. */
export function integer(name: string, raw: unknown, fallback: number, max: number, min = 0): number {
  if (raw === undefined) return fallback
  const value = /^\d+$/.test(String(raw)) ? Number(raw) : Number.NaN
  if (!(value >= min && value <= max))
    throw new UsageError(`${name} must be an integer from ${min} to ${max} (got '${raw}')`)
  return value
}

/** `raw` (or `fallback` when absent) if it is a key of `choices`; else a `UsageError` listing them. */
export function choice<K extends string>(
  name: string,
  raw: string | undefined,
  fallback: NoInfer<K>,
  choices: Readonly<Record<K, unknown>>,
): K {
  const value = raw ?? fallback
  if (!Object.hasOwn(choices, value))
    throw new UsageError(`${name} must be one of ${Object.keys(choices).join(', ')} (got '${value}')`)
  return value as K
}

/** The usage text's list of choices: one indented line each, the name then its summary. */
export function choiceList(choices: Readonly<Record<string, { summary: string }>>): string {
  return Object.entries(choices)
    .map(([name, { summary }]) => `      ${name.padEnd(12)}${summary}`)
    .join('\n')
}
