/**
 * Reads what a tenant process writes. The bootstrap (host/tenant/bootstrap.js) turns every
 * `console.*` call into one tagged line on stdout: {@link TAG} followed by JSON, either
 * `{"level", "message"}` (a log line, multi-line messages kept whole), `{"kv": [reads,
 * writes]}` (KV operations since the last report), `{"listening": true}` (the server is
 * up: the host looks at the socket at once) or `{"queue": true}` (it listens on its KV queue). Anything else is the process writing
 * directly: an untagged stdout line is an `info` line, untagged stderr is `error`, and an
 * indented stderr line continues the previous one, so Deno's report of an uncaught error
 * (`error: Uncaught …` and its stack) stays one entry.
 *
 * A tenant can write tagged lines itself; that only lets it log at a level it could pick
 * anyway, count KV operations it did not do, or keep itself warm as a queue listener would.
 *
 * @module
 */
import type { LogLevel } from "../../lib/types.ts";
import { isLogLevel, MAX_MESSAGE_LENGTH } from "./app_logs.ts";

/** Starts a tagged line (ASCII record separator). */
export const TAG = "\x1e";

/** What the reader reports. */
export interface TenantOutputHandlers {
  /** A log line. */
  log(level: LogLevel, message: string): void;
  /** KV operations since the previous report. */
  kv?(reads: number, writes: number): void;
  /** The tenant says it listens (a hint: the host still connects to see). */
  listening?(): void;
  /** The tenant registered a `Deno.cron` job (its schedule as given: a string or an object). */
  cron?(name: string, schedule: unknown): void;
  /** The tenant listens on its KV queue (`Deno.Kv#listenQueue`). */
  queue?(): void;
}

/**
 * Longest line kept whole; a longer run without a newline is cut into pieces. Room for a
 * tagged message of the longest length even if JSON escapes every character (`\u0001`).
 */
const MAX_LINE = MAX_MESSAGE_LENGTH * 8;

/**
 * Bytes of one output stream the host reads per second at most, by default. Each line costs the
 * host's event loop (a parse; a record, more): one tenant writing as fast as a pipe takes kept it
 * busy (forged `{"kv":…}` records, 200 MiB of them: 90% of the host's event loop for a minute).
 * Past this the host reads on a moment later, and a tenant writing faster waits in its writes. It
 * is 16 times the app log's default rate, which drops what is over it anyway.
 */
export const OUTPUT_BYTES_PER_SECOND = 16 * 1024 * 1024;

/**
 * Lines of one output stream the host reads per second at most, by default: what a line costs
 * the host does not depend on its length, so short forged records at the byte rate still took a
 * third of its CPU (320 000 lines a second). It is the app log's byte rate in 32-byte lines.
 */
export const OUTPUT_LINES_PER_SECOND = 32 * 1024;

/** How fast the host reads one output stream of a tenant at most. */
export interface OutputRate {
  /** Bytes per second. Default {@link OUTPUT_BYTES_PER_SECOND}. */
  bytesPerSecond?: number;
  /** Lines per second. Default {@link OUTPUT_LINES_PER_SECOND}. */
  linesPerSecond?: number;
}

/** Deno suggests `deno serve` for `export default { fetch }` modules; the bootstrap serves them. */
const IGNORED_PREFIXES = ["warning: Detected export default { fetch }"];

/**
 * Reads one output stream of a tenant until it ends, reporting lines to `handlers`.
 * `stream` says which one it is: untagged stdout lines are `info`, untagged stderr `error`.
 */
export async function readTenantOutput(
  stream: ReadableStream<Uint8Array>,
  kind: "stdout" | "stderr",
  handlers: TenantOutputHandlers,
  rate: OutputRate = {},
): Promise<void> {
  const maxBytes = rate.bytesPerSecond ?? OUTPUT_BYTES_PER_SECOND;
  const maxLines = rate.linesPerSecond ?? OUTPUT_LINES_PER_SECOND;
  const untaggedLevel: LogLevel = kind === "stdout" ? "info" : "error";
  // Untagged stderr lines wait here for continuation lines until the chunk is done.
  let held: string | undefined;
  const release = () => {
    if (held !== undefined) handlers.log(untaggedLevel, held);
    held = undefined;
  };
  let chunkLines = 0;
  const onLine = (line: string) => {
    chunkLines++;
    if (line.startsWith(TAG) && handleTagged(line.slice(TAG.length), handlers)) {
      release();
      return;
    }
    const text = stripAnsi(line);
    // A blank line carries nothing; Deno's hint about `deno serve` is not the tenant's.
    if (text.trim() === "" || IGNORED_PREFIXES.some((prefix) => text.startsWith(prefix))) return;
    if (kind === "stdout") return handlers.log(untaggedLevel, text);
    // A continuation joins the held entry only while that stays within one line's bound: a
    // tenant writing indented lines and never ending a write at a newline would otherwise
    // grow `held` in the host's heap without limit (its own memory limit does not cover it).
    if (held !== undefined && /^\s/.test(text) && held.length + 1 + text.length <= MAX_LINE) {
      held += `\n${text}`;
      return;
    }
    release();
    held = text;
  };

  const decoder = new TextDecoder();
  let buffer = "";
  // A bucket of credit, in seconds at the rate: a second's worth at most (a burst goes through at
  // once), refilled as time passes. In debt, the next read waits until it is paid: the pipe
  // fills, and the tenant's writes wait, a chunk's worth at a time rather than a second's.
  let credit = 1;
  let lastRead = performance.now();
  try {
    for await (const bytes of stream) {
      chunkLines = 0;
      buffer += decoder.decode(bytes, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        onLine(buffer.slice(0, newline).replace(/\r$/, ""));
        buffer = buffer.slice(newline + 1);
      }
      while (buffer.length > MAX_LINE) {
        onLine(buffer.slice(0, MAX_LINE));
        buffer = buffer.slice(MAX_LINE);
      }
      if (buffer === "") release();
      const now = performance.now();
      credit = Math.min(1, credit + (now - lastRead) / 1_000) -
        Math.max(bytes.byteLength / maxBytes, chunkLines / maxLines);
      lastRead = now;
      if (credit < 0) await new Promise((resolve) => setTimeout(resolve, -credit * 1_000));
    }
    buffer += decoder.decode();
  } catch { /* the process went away */ }
  if (buffer) onLine(buffer);
  release();
}

/** Handles a tagged record; `false` if it is not one (then the line counts as untagged). */
function handleTagged(json: string, handlers: TenantOutputHandlers): boolean {
  let record: unknown;
  try {
    record = JSON.parse(json);
  } catch {
    return false;
  }
  if (typeof record !== "object" || record === null) return false;
  const { level, message, kv, listening, cron, queue } = record as Record<string, unknown>;
  if (listening === true) {
    handlers.listening?.();
    return true;
  }
  if (queue === true) {
    handlers.queue?.();
    return true;
  }
  if (
    typeof cron === "object" && cron !== null &&
    typeof (cron as { name?: unknown }).name === "string"
  ) {
    const job = cron as { name: string; schedule: unknown };
    handlers.cron?.(job.name, job.schedule);
    return true;
  }
  if (typeof level === "string" && isLogLevel(level) && typeof message === "string") {
    handlers.log(level, stripAnsi(message));
    return true;
  }
  if (Array.isArray(kv) && kv.length === 2 && kv.every(isCount)) {
    handlers.kv?.(kv[0], kv[1]);
    return true;
  }
  return false;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** The text without terminal colour codes. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}
