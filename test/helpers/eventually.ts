// Waiting for something that happens in the background (a server listening, an event written).
// The deadline only bounds a broken run: nothing here asserts how fast anything is, so timeouts
// are generous.

interface EventuallyOptions {
  /** When to give up. */
  timeoutMs: number;
  /** The pause between two tries. */
  intervalMs?: number;
  /** What did not happen, for the error at the deadline (a function when it shows output so far). */
  message: string | (() => string);
}

const STOP = Symbol('stop retrying');

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * Call from a check to fail at once instead of retrying until the deadline (what it waits for
 * can no longer happen: the process exited).
 */
export function giveUp(message: string): never {
  throw Object.assign(new Error(message), { [STOP]: true });
}

/**
 * Calls `check` until it returns a truthy value (without throwing) and returns that value. At
 * the deadline it fails with `message` and the last error the check threw, if any.
 */
export async function eventually<T>(check: () => T | Promise<T>, options: EventuallyOptions): Promise<Truthy<T>> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Truthy<T>;
      lastError = undefined;
    } catch (err) {
      if (err instanceof Error && STOP in err) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      const message = typeof options.message === 'function' ? options.message() : options.message;
      throw new Error(`${message} (gave up after ${options.timeoutMs} ms${reason})`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}
