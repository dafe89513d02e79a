import { checkOptionValues, type OptionTable } from '@socketserver/core/transport'

// Handler classes whose option values passed their checks.
const checked = new WeakSet<object>()

/**
 * Checks a handler's options against its class's `static readonly options` tables (merged along the
 * class chain), once per handler class: the first handler of a class to run `setup()` is checked,
 * later ones cost one WeakSet lookup. Throws `InvalidArgumentError` naming the option and the class;
 * a class that failed is checked (and fails) again on its next request.
 *
 * Handler options are fields, not constructor options: defaults live on the prototype (set from the
 * table, so an idle connection's handler carries none of them), and a subclass's
 * `override timeout = 30_000` is an own field of each instance, the same value on every one. Only
 * the first instance is checked: a value a constructor computes per instance (rare) is checked on
 * that first instance only.
 */
export function checkHandlerOptions(handler: object): void {
  const Class = handler.constructor
  if (checked.has(Class)) return
  checkOptionValues(handler, Class as abstract new (...args: any[]) => unknown)
  checked.add(Class)
}

/** Sets each option's default on `prototype`, from the table: one place for the defaults. */
export function setOptionDefaults(prototype: object, options: OptionTable): void {
  for (const [name, spec] of Object.entries(options))
    (prototype as Record<string, unknown>)[name] = spec.default
}
