/**
 * Usage per project in 15-minute buckets, for the analytics API and billing: requests and
 * body bytes counted by the router, CPU time, uptime and memory sampled from the tenant
 * processes, KV operations reported by the bootstrap.
 *
 * Counts accumulate in memory and are added to SQLite (`usage_buckets`) by a periodic
 * flush, on demand before a query, and on shutdown; a crash loses at most one flush
 * interval. Rows keep the organization, so an organization's totals still include a
 * project that was deleted.
 *
 * @module
 */
import type { Analytics } from "../../lib/types.ts";
import type { Store } from "../store/store.ts";
import { StatementCache } from "../store/sql.ts";
import { USAGE_FIELDS as CLIENT_USAGE_FIELDS } from "../../lib/analytics.ts";

/** Length of one bucket: 15 minutes, as on Deno Deploy. */
export const BUCKET_SECONDS = 15 * 60;

/** The counters of one bucket. `maxRssMemoryBytes` is a maximum, the rest are sums. */
export interface UsageCounts {
  requestCount: number;
  cpuSeconds: number;
  uptimeSeconds: number;
  maxRssMemoryBytes: number;
  networkIngressBytes: number;
  networkEgressBytes: number;
  kvReadCount: number;
  kvWriteCount: number;
}

/** Whose usage it is. */
export interface UsageOwner {
  organizationId: string;
  projectId: string;
}

/** The analytics fields in API order, after `time` (the client's list: one source of truth). */
export const USAGE_FIELDS: readonly (keyof UsageCounts)[] = CLIENT_USAGE_FIELDS;

const COLUMNS: Record<keyof UsageCounts, string> = {
  requestCount: "request_count",
  cpuSeconds: "cpu_seconds",
  uptimeSeconds: "uptime_seconds",
  maxRssMemoryBytes: "max_rss_memory_bytes",
  networkIngressBytes: "network_ingress_bytes",
  networkEgressBytes: "network_egress_bytes",
  kvReadCount: "kv_read_count",
  kvWriteCount: "kv_write_count",
};

/** Tunables of {@link UsageMeter}. */
export interface UsageMeterOptions {
  /** Interval of the periodic flush; `0` disables the timer. Default one minute. */
  flushIntervalMs?: number;
  /** The clock, in milliseconds since the epoch (tests move it). Default `Date.now`. */
  now?: () => number;
  /** Called before each query, e.g. to take a fresh sample of the running processes. */
  beforeQuery?: () => void;
}

interface PendingBucket {
  owner: UsageOwner;
  bucketStart: number;
  counts: UsageCounts;
}

/** Counts usage and answers analytics queries. */
export class UsageMeter {
  #store: Store;
  #now: () => number;
  #beforeQuery?: () => void;
  #pending = new Map<string, PendingBucket>();
  #timer?: ReturnType<typeof setInterval>;
  #statements: StatementCache;
  #closed = false;

  /** Starts counting into `store`'s database. */
  constructor(store: Store, options: UsageMeterOptions = {}) {
    this.#store = store;
    this.#statements = new StatementCache(store.database);
    this.#now = options.now ?? Date.now;
    this.#beforeQuery = options.beforeQuery;
    const flushIntervalMs = options.flushIntervalMs ?? 60_000;
    if (flushIntervalMs > 0) {
      this.#timer = setInterval(() => this.flush(), flushIntervalMs);
      Deno.unrefTimer(this.#timer as unknown as number);
    }
  }

  /**
   * Adds `counts` to the owner's bucket of `at` (default now; `maxRssMemoryBytes` raises its
   * maximum).
   */
  add(owner: UsageOwner, counts: Partial<UsageCounts>, at: number = this.#now()): void {
    if (this.#closed) return;
    const bucketStart = bucketOf(at);
    const key = `${owner.projectId} ${bucketStart}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = { owner, bucketStart, counts: emptyCounts() };
      this.#pending.set(key, pending);
    }
    for (const field of USAGE_FIELDS) {
      const value = counts[field];
      if (value === undefined || !(value > 0)) continue;
      if (field === "maxRssMemoryBytes") {
        pending.counts[field] = Math.max(pending.counts[field], value);
      } else {
        pending.counts[field] += value;
      }
    }
  }

  /** Adds what was counted in memory to the database, in one transaction. */
  flush(): void {
    if (this.#pending.size === 0) return;
    const buckets = [...this.#pending.values()];
    this.#pending.clear();
    const columns = USAGE_FIELDS.map((field) => COLUMNS[field]);
    const upsert = this.#statements.get(
      `INSERT INTO usage_buckets (organization_id, project_id, bucket_start, ${columns.join(", ")})
       VALUES (?, ?, ?, ${columns.map(() => "?").join(", ")})
       ON CONFLICT (project_id, bucket_start) DO UPDATE SET ${
        columns.map((column) =>
          column === "max_rss_memory_bytes"
            ? `${column} = MAX(${column}, excluded.${column})`
            : `${column} = ${column} + excluded.${column}`
        ).join(", ")
      }`,
    );
    this.#store.transaction(() => {
      for (const { owner, bucketStart, counts } of buckets) {
        upsert.run(
          owner.organizationId,
          owner.projectId,
          bucketStart,
          ...USAGE_FIELDS.map((field) => counts[field]),
        );
      }
    });
  }

  /** A project's usage, one row per bucket from `since` to `until` (ms), zeros included. */
  projectAnalytics(projectId: string, since: number, until: number): Analytics {
    return this.#series("project_id = ?", projectId, since, until);
  }

  /** An organization's totals per bucket over all its projects (`maxRssMemoryBytes`: the largest). */
  organizationAnalytics(organizationId: string, since: number, until: number): Analytics {
    return this.#series("organization_id = ?", organizationId, since, until);
  }

  /** Flushes and stops the timer; later counts are ignored. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    clearInterval(this.#timer);
  }

  #series(where: string, id: string, since: number, until: number): Analytics {
    this.#beforeQuery?.();
    this.flush();
    const first = bucketOf(since);
    const end = Math.ceil(until / 1000);
    const sums = USAGE_FIELDS.map((field) =>
      field === "maxRssMemoryBytes" ? `MAX(${COLUMNS[field]})` : `SUM(${COLUMNS[field]})`
    );
    const rows = this.#statements.get(
      `SELECT bucket_start, ${sums.join(", ")} FROM usage_buckets
       WHERE ${where} AND bucket_start >= ? AND bucket_start < ?
       GROUP BY bucket_start`,
    ).all(id, first, end) as Record<string, number>[];
    const byBucket = new Map(rows.map((row) => [Number(row.bucket_start), Object.values(row)]));
    const values: unknown[][] = [];
    for (let bucket = first; bucket < end; bucket += BUCKET_SECONDS) {
      const row = byBucket.get(bucket)?.slice(1) ?? USAGE_FIELDS.map(() => 0);
      values.push([
        new Date(bucket * 1000).toISOString().replace(".000Z", "Z"),
        ...row.map((value, i) => round(USAGE_FIELDS[i], Number(value ?? 0))),
      ]);
    }
    return {
      fields: [
        { name: "time", type: "time" },
        ...USAGE_FIELDS.map((name) => ({ name, type: "number" as const })),
      ],
      values,
    };
  }
}

/** The start (Unix seconds) of the bucket holding `ms`. */
export function bucketOf(ms: number): number {
  const seconds = Math.floor(ms / 1000);
  return seconds - (seconds % BUCKET_SECONDS);
}

function emptyCounts(): UsageCounts {
  return {
    requestCount: 0,
    cpuSeconds: 0,
    uptimeSeconds: 0,
    maxRssMemoryBytes: 0,
    networkIngressBytes: 0,
    networkEgressBytes: 0,
    kvReadCount: 0,
    kvWriteCount: 0,
  };
}

/** Seconds to the microsecond (CPU) or millisecond (uptime); counts are integers. */
function round(field: keyof UsageCounts, value: number): number {
  if (field === "cpuSeconds") return Math.round(value * 1e6) / 1e6;
  if (field === "uptimeSeconds") return Math.round(value * 1e3) / 1e3;
  return Math.round(value);
}

/**
 * `body` passed through unchanged, calling `onBytes` with the size of each chunk as it
 * flows: bytes are counted without buffering the body.
 */
export function countBytes(
  body: ReadableStream<Uint8Array>,
  onBytes: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        onBytes(chunk.byteLength);
        controller.enqueue(chunk);
      },
    }),
  );
}
