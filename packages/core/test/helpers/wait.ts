/** Resolves once `condition()` holds; rejects after `timeout` ms (a deadline to fail by, not a measurement). */
export async function waitFor(
  condition: () => boolean,
  what = String(condition),
  timeout = 5000,
): Promise<void> {
  const deadline = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** Lets the event loop turn a few times, so that whatever could already happen has happened. */
export async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** A promise the test opens when it chooses. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => (open = resolve))
  return { promise, open }
}
