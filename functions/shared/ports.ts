/** What every port over an AWS SDK client shares: pacing each method, and reading a list to its end. */

/** One page of a list call. */
export interface Page<T> {
  items: T[];
  /** Token of the next page; absent on the last page. */
  next?: string;
}

/** Runs one call of the named API, e.g. through a pacer. */
export type RunCall = <T>(api: string, call: () => Promise<T>) => Promise<T>;

/** Wraps every method named in `apis` so that each call goes through `run(api, call)` (the pacer). */
export function wrapMethods<P extends object>(port: P, apis: Record<keyof P, string>, run: RunCall): P {
  const out: Record<string, unknown> = {};
  for (const method of Object.keys(apis) as (keyof P)[]) {
    const fn = port[method] as (...args: unknown[]) => Promise<unknown>;
    out[method as string] = (...args: unknown[]) => run(apis[method], () => fn.apply(port, args));
  }
  return out as P;
}

/** Every item of a paged list, fetching page after page until one has no next token. */
export async function allPages<T>(fetch: (next?: string) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined;
  do {
    const p = await fetch(next);
    items.push(...p.items);
    next = p.next;
  } while (next);
  return items;
}
