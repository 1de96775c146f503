type Falsy = false | null | undefined | '' | 0;

/** Polls `check` until it returns a truthy value (returned) or `timeoutMs` passes. */
export async function waitFor<T>(check: () => Promise<T | Falsy> | T | Falsy, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
