/**
 * Times as users and the API write them: RFC 3339 date-times (`2024-08-01T00:00:00Z`) and
 * relative durations (`15m`, `2h`, `1d`) meaning "that long ago".
 *
 * @module
 */

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Milliseconds since the epoch of an RFC 3339 date-time, or `undefined` if it is not one. */
export function parseRfc3339(text: string): number | undefined {
  if (!RFC3339.test(text)) return undefined;
  const time = Date.parse(text.replace(" ", "T"));
  return Number.isNaN(time) ? undefined : time;
}

/** Milliseconds of a duration such as `90s`, `15m`, `2h`, `1d`, `1w` or `1h30m`, or `undefined`. */
export function parseDuration(text: string): number | undefined {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join("") !== text.trim()) {
    return undefined;
  }
  return parts.reduce((sum, [, amount, unit]) => sum + Number(amount) * UNIT_MS[unit], 0);
}

/**
 * A point in time given as an RFC 3339 date-time, or as a duration before `now` (`15m` is
 * fifteen minutes ago). `undefined` if it is neither.
 */
export function parseTimeArg(text: string, now: number = Date.now()): number | undefined {
  const absolute = parseRfc3339(text);
  if (absolute !== undefined) return absolute;
  const duration = parseDuration(text);
  return duration === undefined ? undefined : now - duration;
}

/** Resolves after `ms`, or rejects with `signal`'s reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * `items` sorted oldest first by `createdAt` (RFC 3339), whatever order the API listed them in:
 * v1 lists deployments oldest first, v2 revisions newest first.
 */
export function oldestFirst<T extends { createdAt: string }>(items: readonly T[]): T[] {
  const time = (item: T) => parseRfc3339(item.createdAt) ?? 0;
  // Same millisecond: the text, which has the API's finer precision.
  return [...items].sort((a, b) =>
    time(a) - time(b) || (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0)
  );
}
