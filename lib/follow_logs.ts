/**
 * Following a deployment's app logs as a person tails them: past lines, then live ones, across
 * the live stream being cut (a host restarting, a proxy closing an idle connection).
 *
 * @module
 */
import type { AppLogFilter, DeployApi } from "./api.ts";
import { ApiError, DeployTenantError, NetworkError } from "./errors.ts";
import { networkErrorReason } from "./http.ts";
import { sleep } from "./time.ts";
import type { AppLogEntry } from "./types.ts";

/** How long past lines wait for the live stream's answer before they are read anyway. */
const SUBSCRIBE_WAIT_MS = 2_000;

/** Lines per request when paging through past logs (the API's largest page). */
const PAGE_LIMIT = 10_000;

/** Past lines to read: a range and how many of its latest. */
export interface PastLines {
  since?: number;
  until?: number;
  limit: number;
  filter?: AppLogFilter;
}

/** The latest `limit` lines of the range, oldest first. */
export async function latestLines(
  api: DeployApi,
  deploymentId: string,
  options: PastLines,
): Promise<AppLogEntry[]> {
  const lines: AppLogEntry[] = [];
  const until = new Date(options.until ?? Date.now());
  let cursor: string | undefined;
  do {
    const page = await api.appLogs.query(deploymentId, {
      ...options.filter,
      since: options.since === undefined ? undefined : new Date(options.since),
      until,
      order: "desc",
      limit: Math.min(PAGE_LIMIT, options.limit - lines.length),
      cursor,
    });
    lines.push(...page.entries);
    cursor = page.entries.length > 0 ? page.cursor : undefined;
  } while (cursor !== undefined && lines.length < options.limit);
  return lines.reverse();
}

/** Options of {@link followAppLogs}. */
export interface FollowOptions {
  filter?: AppLogFilter;
  /** Past lines to yield first (`--since`/`--until`); none by default. */
  past?: Omit<PastLines, "filter">;
  /** Ends the following (Ctrl-C): the generator returns. */
  signal: AbortSignal;
  /** How long the API may stay away before giving up; default 60 s. */
  budgetMs?: number;
  /** Called once each time the stream is cut, before reconnecting. */
  onCut?: (reason: string, budgetMs: number) => void;
}

/**
 * Yields past lines (if asked), then live ones until `signal` aborts. When the live stream ends
 * or its connection is cut, it reconnects and first yields what was logged meanwhile (after the
 * last line yielded), for up to `budgetMs` of the API not answering.
 *
 * @throws {NetworkError} when the API stayed away longer than the budget; an API error (the
 *   deployment was deleted, the token revoked) as it came.
 */
export async function* followAppLogs(
  api: DeployApi,
  deploymentId: string,
  options: FollowOptions,
): AsyncGenerator<AppLogEntry> {
  const { filter = {}, signal } = options;
  const budgetMs = options.budgetMs ?? 60_000;
  let past: PastLines | undefined = options.past && { ...options.past, filter };
  const yielded = new Yielded();
  let cutSince: number | undefined;
  while (!signal.aborted) {
    try {
      // Subscribed first, so no line falls between the past ones and the live ones; but past
      // lines are not held back long by an API slow to answer the live request.
      const subscribed = api.appLogs.subscribe(deploymentId, filter, signal);
      subscribed.catch(() => {}); // awaited below; an early failure must not go unhandled meanwhile
      if (past) {
        const waited = new AbortController();
        await Promise.race([subscribed, sleep(SUBSCRIBE_WAIT_MS, waited.signal).catch(() => {})]);
        waited.abort();
      }
      // A line logged after subscribing but before the past lines were read is in both.
      const inBoth = new Multiset();
      let pastEnd = "";
      if (past) {
        const before = yielded.atLast();
        for (const entry of await latestLines(api, deploymentId, past)) {
          if (entry.time < yielded.last || before.take(entry)) continue; // yielded before the cut
          yield yielded.add(entry);
          inBoth.add(entry);
          pastEnd = entry.time;
        }
      }
      for await (const entry of await subscribed) {
        cutSince = undefined;
        if (entry.time <= pastEnd && inBoth.take(entry)) continue;
        yield yielded.add(entry);
      }
      if (signal.aborted) return;
      cutSince ??= Date.now();
      options.onCut?.("the API ended the stream", budgetMs);
    } catch (error) {
      if (signal.aborted) return;
      if (!isCut(error)) throw error;
      const reason = error instanceof NetworkError ? error.message : networkErrorReason(error);
      if (cutSince !== undefined && Date.now() - cutSince > budgetMs) {
        throw new NetworkError(
          `The log stream was cut and the API has not answered for ${
            Math.round(budgetMs / 1000)
          } s: ${reason}`,
          { hint: "Check that the API is up, then follow the logs again.", cause: error },
        );
      }
      if (cutSince === undefined) options.onCut?.(reason, budgetMs);
      cutSince ??= Date.now();
    }
    // Again from the last line yielded: what was logged while the stream was down comes first.
    past = yielded.last
      ? { since: Date.parse(yielded.last), limit: PAGE_LIMIT, filter }
      : options.past && { ...options.past, filter };
    await sleep(1_000, signal).catch(() => {});
  }
}

/**
 * The lines yielded so far, as much as a range read again needs: the newest time, and the
 * lines at that time (times have millisecond precision: a burst shares one).
 */
class Yielded {
  /** The newest line's time; RFC 3339 in UTC with fixed precision, so text order is time order. */
  last = "";
  #atLast = new Multiset();

  /** Records `entry` as yielded and returns it. */
  add(entry: AppLogEntry): AppLogEntry {
    if (entry.time > this.last) {
      this.last = entry.time;
      this.#atLast = new Multiset();
    }
    if (entry.time === this.last) this.#atLast.add(entry);
    return entry;
  }

  /** A copy of the lines yielded at {@link last}, to strike off as they are read again. */
  atLast(): Multiset {
    return this.#atLast.copy();
  }
}

/** Log lines counted by content, so two identical lines in one millisecond stay two. */
class Multiset {
  #counts = new Map<string, number>();

  add(entry: AppLogEntry): void {
    const key = keyOf(entry);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** Removes one `entry`; whether there was one. */
  take(entry: AppLogEntry): boolean {
    const key = keyOf(entry);
    const count = this.#counts.get(key) ?? 0;
    if (count === 0) return false;
    this.#counts.set(key, count - 1);
    return true;
  }

  copy(): Multiset {
    const copy = new Multiset();
    copy.#counts = new Map(this.#counts);
    return copy;
  }
}

function keyOf(entry: AppLogEntry): string {
  return `${entry.time} ${entry.level} ${entry.region} ${entry.message}`;
}

/**
 * Whether `error` is the stream's connection failing (worth reconnecting), not an answer: a
 * network error, a 5xx, or the body's read failing (a raw TypeError from the stream).
 */
function isCut(error: unknown): boolean {
  if (error instanceof NetworkError) return true;
  if (error instanceof ApiError) return error.status >= 500;
  return !(error instanceof DeployTenantError) && error instanceof TypeError;
}
