/**
 * App logs: what each deployment's code writes (`console.*`, uncaught errors) and the host's
 * events about it (started, crashed, timed out), kept in SQLite for the past-logs API and
 * handed at once to live subscribers.
 *
 * Lines are buffered and written in one transaction per batch, so a chatty tenant costs one
 * commit per flush, not one per line. Logs cannot fill the disk: each deployment may log at
 * most a rate of bytes per second (over it, lines are dropped as they arrive and one line says
 * how many), keeps at most a budget of bytes and a number of lines (the oldest go first,
 * checked after batches), and lines older than the retention period are swept periodically.
 *
 * @module
 */
import type { AppLogEntry, LogLevel } from "../../lib/types.ts";
import type { Store } from "../store/store.ts";
import { StatementCache } from "../store/sql.ts";

/** The levels of app logs, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warning", "error"];

/** The region every local line comes from. */
export const LOCAL_REGION = "local";

/** How long lines are kept by default: two weeks, as on Deno Deploy. */
export const DEFAULT_RETENTION_MS = 14 * 24 * 60 * 60 * 1000;

/** Lines kept per deployment by default; older ones are dropped first. */
export const DEFAULT_MAX_LINES_PER_DEPLOYMENT = 100_000;

/** Bytes of messages kept per deployment by default; older lines are dropped first. */
export const DEFAULT_MAX_BYTES_PER_DEPLOYMENT = 64 * 1024 * 1024;

/** Bytes of messages per second a deployment may log by default, in bursts of 4 seconds' worth. */
export const DEFAULT_MAX_BYTES_PER_SECOND = 1024 * 1024;

/** How many seconds of the rate a deployment may log at once after a quiet spell. */
const BURST_SECONDS = 4;

/**
 * The most characters of messages one page of past logs holds, whatever its `limit`: a page of
 * 10 000 lines of 32 Ki characters each, escaped as JSON, was a 394 MiB answer built in the
 * host's memory (and 12 s of its event loop) for one request. A page cut short has a cursor.
 */
export const MAX_PAGE_CHARS = 2 * 1024 * 1024;

/** Longest message kept, in UTF-16 code units; longer ones are cut. */
export const MAX_MESSAGE_LENGTH = 32 * 1024;

/** Tunables of {@link AppLogs}. */
export interface AppLogOptions {
  /** Lines older than this are deleted by {@link AppLogs.sweep}. Default two weeks. */
  retentionMs?: number;
  /** Lines kept per deployment. Default {@link DEFAULT_MAX_LINES_PER_DEPLOYMENT}. */
  maxLinesPerDeployment?: number;
  /** Bytes of messages kept per deployment. Default {@link DEFAULT_MAX_BYTES_PER_DEPLOYMENT}. */
  maxBytesPerDeployment?: number;
  /** Bytes of messages a deployment may log per second. Default {@link DEFAULT_MAX_BYTES_PER_SECOND}. */
  maxBytesPerSecond?: number;
  /** How long a line may wait in memory before its batch is written. Default 200 ms. */
  flushIntervalMs?: number;
  /** Interval of the retention sweep; `0` disables the timer. Default 10 minutes. */
  sweepIntervalMs?: number;
  /** The clock, in milliseconds since the epoch (tests move it). Default `Date.now`. */
  now?: () => number;
}

/** A past-logs query of one deployment. Times are milliseconds since the epoch. */
export interface AppLogQuery {
  /** Lines at or after this time; default: all retained. */
  since?: number;
  /** Lines before this time; default: all up to now. */
  until?: number;
  /** Only lines whose message contains this text (case-insensitive for ASCII). */
  q?: string;
  /** Only lines of these levels; default all. */
  levels?: readonly LogLevel[];
  /** Lines per page, 1 to 10 000. */
  limit: number;
  /** Oldest first (`asc`) or newest first (`desc`). */
  order: "asc" | "desc";
  /** Where the previous page ended, from {@link AppLogPage.cursor}. */
  cursor?: string;
}

/** One page of past logs. */
export interface AppLogPage {
  entries: AppLogEntry[];
  /** The deployment of each entry (same order), for queries over several. */
  deploymentIds: string[];
  /** Opaque position after the last entry, when more lines match. */
  cursor?: string;
}

/** The filter of a live subscription. */
export interface LiveFilter {
  q?: string;
  levels?: readonly LogLevel[];
}

/** A cursor that is not one this host handed out. */
export class InvalidCursorError extends Error {
  /** Creates the error. */
  constructor() {
    super("The cursor is not valid: pass the one from the previous page's Link header");
    this.name = "InvalidCursorError";
  }
}

/** Receives each new line, then `null` when the stream ends (host shutdown, deletion). */
export type LiveListener = (entry: AppLogEntry | null) => void;

interface PendingLine {
  deploymentId: string;
  time: number; // microseconds
  level: LogLevel;
  message: string;
}

interface Subscription {
  filter: LiveFilter;
  listener: LiveListener;
}

/** Flush at once when this many lines wait, whatever the timer says. */
const MAX_BUFFERED_LINES = 2_000;

/** Flush at once when this many bytes of messages wait. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/** Rows deleted per statement by the sweep, so one sweep never holds the database long. */
const DELETE_CHUNK = 5_000;

/** The app logs of every deployment on the host. */
export class AppLogs {
  #store: Store;
  #retentionMs: number;
  #maxLines: number;
  #maxBytes: number;
  #bytesPerSecond: number;
  #rates = new Map<string, LogRate>();
  #flushIntervalMs: number;
  #now: () => number;
  #buffer: PendingLine[] = [];
  #bufferedBytes = 0;
  #flushTimer?: ReturnType<typeof setTimeout>;
  #sweepTimer?: ReturnType<typeof setInterval>;
  #sweeping?: Promise<number>;
  #lastMicros = 0;
  #writtenSinceTrim = new Map<string, { lines: number; bytes: number }>();
  #subscriptions = new Map<string, Set<Subscription>>();
  #statements: StatementCache;
  #closed = false;

  /** Starts keeping logs in `store`'s database, with a periodic retention sweep. */
  constructor(store: Store, options: AppLogOptions = {}) {
    this.#store = store;
    this.#statements = new StatementCache(store.database);
    this.#retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.#maxLines = options.maxLinesPerDeployment ?? DEFAULT_MAX_LINES_PER_DEPLOYMENT;
    this.#maxBytes = options.maxBytesPerDeployment ?? DEFAULT_MAX_BYTES_PER_DEPLOYMENT;
    this.#bytesPerSecond = options.maxBytesPerSecond ?? DEFAULT_MAX_BYTES_PER_SECOND;
    this.#flushIntervalMs = options.flushIntervalMs ?? 200;
    this.#now = options.now ?? Date.now;
    const sweepIntervalMs = options.sweepIntervalMs ?? 10 * 60 * 1000;
    if (sweepIntervalMs > 0) {
      this.#sweepTimer = setInterval(() => {
        this.sweep().catch((error) => console.error("app log sweep failed:", error));
      }, sweepIntervalMs);
      Deno.unrefTimer(this.#sweepTimer as unknown as number);
    }
  }

  /**
   * Records a line of `deploymentId`, timed now. Live subscribers get it at once; it reaches
   * the database with the next batch. Lines of a deleted deployment are dropped.
   */
  append(deploymentId: string, level: LogLevel, message: string): void {
    if (this.#closed) return;
    message = truncateMessage(message);
    const rate = this.#rateOf(deploymentId);
    const bytes = utf8Length(message);
    if (rate.tokens < bytes) {
      rate.droppedLines++;
      rate.droppedBytes += bytes;
      return;
    }
    rate.tokens -= bytes;
    if (rate.droppedLines > 0) {
      const { droppedLines, droppedBytes } = rate;
      rate.droppedLines = rate.droppedBytes = 0;
      this.#record(
        deploymentId,
        "warning",
        `${droppedLines} log lines (${droppedBytes} bytes) were dropped: over the rate of ` +
          `${this.#bytesPerSecond} bytes per second`,
      );
    }
    this.#record(deploymentId, level, message);
  }

  /** The deployment's log rate, its tokens refilled for the time since it last logged. */
  #rateOf(deploymentId: string): LogRate {
    const now = this.#now();
    const capacity = this.#bytesPerSecond * BURST_SECONDS;
    let rate = this.#rates.get(deploymentId);
    if (!rate) {
      rate = { tokens: capacity, updated: now, droppedLines: 0, droppedBytes: 0 };
      this.#rates.set(deploymentId, rate);
    }
    const refill = ((now - rate.updated) / 1000) * this.#bytesPerSecond;
    rate.tokens = Math.min(capacity, rate.tokens + Math.max(0, refill));
    rate.updated = now;
    return rate;
  }

  #record(deploymentId: string, level: LogLevel, message: string): void {
    const line: PendingLine = {
      deploymentId,
      time: this.#nextMicros(),
      level,
      message,
    };
    this.#buffer.push(line);
    this.#bufferedBytes += utf8Length(message);
    const subscriptions = this.#subscriptions.get(deploymentId);
    if (subscriptions) {
      const entry = toEntry(line.time, line.level, line.message);
      for (const subscription of subscriptions) {
        if (matches(subscription.filter, line.level, line.message)) {
          deliver(subscription.listener, entry);
        }
      }
    }
    // A batch is inserted before the deployments it grew are trimmed: it stays a small part
    // of the byte budget, so the database never holds much more than the budget.
    if (
      this.#buffer.length >= MAX_BUFFERED_LINES ||
      this.#bufferedBytes >= Math.min(this.#maxBytes / 8, MAX_BUFFERED_BYTES)
    ) {
      this.flush();
    } else if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => this.flush(), this.#flushIntervalMs);
      Deno.unrefTimer(this.#flushTimer as unknown as number);
    }
  }

  /** Writes the buffered lines in one transaction, then trims deployments over their cap. */
  flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#buffer.length === 0) return;
    const lines = this.#buffer;
    this.#buffer = [];
    this.#bufferedBytes = 0;
    const insert = this.#statements.get(
      `INSERT INTO app_logs (deployment_id, time, level, message)
       SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM deployments WHERE id = ?1)`,
    );
    this.#store.transaction(() => {
      for (const line of lines) {
        const { changes } = insert.run(line.deploymentId, line.time, line.level, line.message);
        if (Number(changes) === 0) continue;
        const written = this.#writtenSinceTrim.get(line.deploymentId) ?? { lines: 0, bytes: 0 };
        written.lines++;
        written.bytes += utf8Length(line.message);
        this.#writtenSinceTrim.set(line.deploymentId, written);
      }
    });
    // Trimming after every line would cost a query per line: an eighth of each cap is slack.
    for (const [deploymentId, written] of this.#writtenSinceTrim) {
      if (
        written.lines >= Math.max(1, this.#maxLines / 4) ||
        written.bytes >= Math.max(1, this.#maxBytes / 8)
      ) {
        this.#trim(deploymentId);
        this.#writtenSinceTrim.delete(deploymentId);
      }
    }
  }

  /**
   * One page of past lines of a deployment, of several, or of every deployment of a project
   * (`{projectId}`). Buffered lines are written first.
   */
  query(
    source: string | readonly string[] | { projectId: string },
    query: AppLogQuery,
  ): AppLogPage {
    this.flush();
    let where: string[];
    let params: (string | number)[];
    if (typeof source !== "string" && "projectId" in source) {
      // Not the project's deployment ids as parameters: an app may have more revisions than
      // SQLite takes parameters (32 766), and each count of them was another SQL text, each
      // prepared once and kept.
      where = ["deployment_id IN (SELECT id FROM deployments WHERE project_id = ?)"];
      params = [source.projectId];
    } else {
      const ids = typeof source === "string" ? [source] : source;
      if (ids.length === 0) return { entries: [], deploymentIds: [] };
      where = [`deployment_id IN (${ids.map(() => "?").join(", ")})`];
      params = [...ids];
    }
    if (query.since !== undefined) {
      where.push("time >= ?");
      params.push(query.since * 1000);
    }
    if (query.until !== undefined) {
      where.push("time < ?");
      params.push(query.until * 1000);
    }
    if (query.levels && query.levels.length < LOG_LEVELS.length) {
      where.push(`level IN (${query.levels.map(() => "?").join(", ")})`);
      params.push(...query.levels);
    }
    if (query.q) {
      where.push("message LIKE ? ESCAPE '\\'");
      params.push(`%${query.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    }
    const descending = query.order === "desc";
    if (query.cursor !== undefined) {
      const after = parseCursor(query.cursor);
      where.push(descending ? "(time, id) < (?, ?)" : "(time, id) > (?, ?)");
      params.push(after.time, after.id);
    }
    const direction = descending ? "DESC" : "ASC";
    const rows = this.#statements.get(
      `SELECT id, deployment_id, time, level, message FROM app_logs WHERE ${where.join(" AND ")}
       ORDER BY time ${direction}, id ${direction} LIMIT ?`,
    ).iterate(...params, query.limit + 1) as Iterable<{
      id: number;
      deployment_id: string;
      time: number;
      level: LogLevel;
      message: string;
    }>;
    // A page ends at `limit` lines or at MAX_PAGE_CHARS of messages, whichever comes first: the
    // cursor goes on from there.
    const page = [];
    let chars = 0;
    let more = false;
    for (const row of rows) {
      if (
        page.length === query.limit ||
        (page.length > 0 && chars + row.message.length > MAX_PAGE_CHARS)
      ) {
        more = true;
        break;
      }
      page.push(row);
      chars += row.message.length;
    }
    const last = page.at(-1);
    return {
      entries: page.map((row) => toEntry(row.time, row.level, row.message)),
      deploymentIds: page.map((row) => row.deployment_id),
      cursor: more && last ? formatCursor(last.time, last.id) : undefined,
    };
  }

  /**
   * Calls `listener` with each line of `deploymentId` that matches `filter`, from now on,
   * and with `null` when the stream ends. Returns the unsubscriber.
   */
  subscribe(deploymentId: string, filter: LiveFilter, listener: LiveListener): () => void {
    const subscription: Subscription = { filter, listener };
    if (this.#closed) {
      queueMicrotask(() => deliver(listener, null));
      return () => {};
    }
    const subscriptions = this.#subscriptions.get(deploymentId) ?? new Set();
    this.#subscriptions.set(deploymentId, subscriptions);
    subscriptions.add(subscription);
    return () => {
      subscriptions.delete(subscription);
      if (subscriptions.size === 0 && this.#subscriptions.get(deploymentId) === subscriptions) {
        this.#subscriptions.delete(deploymentId);
      }
    };
  }

  /**
   * Ends the live streams of `deploymentId` (it was deleted), or all of them (the server is
   * stopping and waits for open responses). Lines are still recorded.
   */
  end(deploymentId?: string): void {
    const ids = deploymentId === undefined ? [...this.#subscriptions.keys()] : [deploymentId];
    for (const id of ids) {
      const subscriptions = this.#subscriptions.get(id);
      this.#subscriptions.delete(id);
      for (const subscription of subscriptions ?? []) deliver(subscription.listener, null);
    }
  }

  /**
   * Deletes lines older than the retention period and the oldest lines of deployments over
   * their cap, a chunk at a time so other work runs in between. Returns how many were deleted.
   */
  sweep(): Promise<number> {
    return this.#sweeping ??= this.#sweep().finally(() => this.#sweeping = undefined);
  }

  /** Writes what is buffered, stops the timers and ends every live stream. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.end();
  }

  async #sweep(): Promise<number> {
    this.flush();
    let deleted = 0;
    const cutoff = (this.#now() - this.#retentionMs) * 1000;
    const expire = this.#statements.get(
      `DELETE FROM app_logs WHERE id IN (SELECT id FROM app_logs WHERE time < ? LIMIT ?)`,
    );
    while (!this.#closed) {
      const changes = Number(expire.run(cutoff, DELETE_CHUNK).changes);
      deleted += changes;
      if (changes < DELETE_CHUNK) break;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const crowded = this.#statements.get(
      `SELECT deployment_id FROM app_logs GROUP BY deployment_id
       HAVING COUNT(*) > ? OR SUM(octet_length(message)) > ?`,
    ).all(this.#maxLines, this.#maxBytes) as { deployment_id: string }[];
    for (const { deployment_id } of crowded) {
      if (this.#closed) break;
      deleted += this.#trim(deployment_id);
      this.#writtenSinceTrim.delete(deployment_id);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return deleted;
  }

  /** Keeps the newest lines of the deployment within both its line and its byte budget. */
  #trim(deploymentId: string): number {
    const byLines = this.#statements.get(
      `SELECT time, id FROM app_logs WHERE deployment_id = ?
       ORDER BY time DESC, id DESC LIMIT 1 OFFSET ?`,
    ).get(deploymentId, this.#maxLines - 1) as { time: number; id: number } | undefined;
    // The oldest line whose bytes, with all newer ones', still fit the budget.
    const byBytes = this.#statements.get(
      `SELECT time, id FROM (
         SELECT time, id, SUM(octet_length(message)) OVER (ORDER BY time DESC, id DESC) AS total
         FROM app_logs WHERE deployment_id = ?)
       WHERE total <= ? ORDER BY time, id LIMIT 1`,
    ).get(deploymentId, this.#maxBytes) as { time: number; id: number } | undefined;
    const candidates = [byLines, byBytes].filter((line) => line !== undefined);
    if (candidates.length === 0) return 0;
    // The newer of the two limits wins.
    const oldestKept = candidates.reduce((a, b) =>
      (b.time > a.time || (b.time === a.time && b.id > a.id)) ? b : a
    );
    const { changes } = this.#statements.get(
      `DELETE FROM app_logs WHERE deployment_id = ? AND (time, id) < (?, ?)`,
    ).run(deploymentId, oldestKept.time, oldestKept.id);
    return Number(changes);
  }

  /** Now in microseconds, strictly increasing: log order is time order. */
  #nextMicros(): number {
    this.#lastMicros = Math.max(Math.floor(this.#now() * 1000), this.#lastMicros + 1);
    return this.#lastMicros;
  }
}

/** Whether `text` names a log level. */
export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text);
}

/** `2023-09-22T05:38:34.550090Z` for a time in microseconds since the epoch. */
export function formatMicros(micros: number): string {
  const iso = new Date(Math.floor(micros / 1000)).toISOString();
  return `${iso.slice(0, -1)}${String(micros % 1000).padStart(3, "0")}Z`;
}

function toEntry(micros: number, level: LogLevel, message: string): AppLogEntry {
  return { time: formatMicros(micros), level, message, region: LOCAL_REGION };
}

function matches(filter: LiveFilter, level: LogLevel, message: string): boolean {
  if (filter.levels && !filter.levels.includes(level)) return false;
  return !filter.q || message.toLowerCase().includes(filter.q.toLowerCase());
}

function deliver(listener: LiveListener, entry: AppLogEntry | null): void {
  try {
    listener(entry);
  } catch (error) {
    // One broken stream must not stop the tenant's logging.
    console.error("app log subscriber failed:", error);
  }
}

/** `message` cut to {@link MAX_MESSAGE_LENGTH} characters, saying how many more there were. */
export function truncateMessage(message: string): string {
  if (message.length <= MAX_MESSAGE_LENGTH) return message;
  const cut = message.length - MAX_MESSAGE_LENGTH;
  return `${message.slice(0, MAX_MESSAGE_LENGTH)}… [${cut} more characters not kept]`;
}

function formatCursor(time: number, id: number): string {
  return btoa(`${time}.${id}`).replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
}

function parseCursor(cursor: string): { time: number; id: number } {
  let text: string;
  try {
    text = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    throw new InvalidCursorError();
  }
  const match = /^(\d{1,17})\.(\d{1,17})$/.exec(text);
  if (!match) throw new InvalidCursorError();
  return { time: Number(match[1]), id: Number(match[2]) };
}

/** A deployment's log rate: a bucket of bytes it may still log, and what it dropped. */
interface LogRate {
  tokens: number;
  updated: number;
  droppedLines: number;
  droppedBytes: number;
}

/** The UTF-8 length of `text`, without encoding it. */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) bytes += code >= 0x800 && (code < 0xd800 || code > 0xdfff) ? 2 : 1;
  }
  return bytes;
}
