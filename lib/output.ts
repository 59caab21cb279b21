/**
 * Terminal output for the CLI: results on stdout (tables for people, one JSON document for
 * scripts), messages and progress on stderr, colour only on a terminal.
 *
 * Under `--json` stderr carries nothing but an error document, so scripts can parse both
 * streams.
 *
 * @module
 */
import { ApiError, DeployTenantError, ExitCode } from "./errors.ts";

/** How the CLI was asked to talk. */
export interface OutputOptions {
  /** One JSON document on stdout; errors as JSON on stderr. */
  json?: boolean;
  /** No messages or progress on stderr (errors still go there). */
  quiet?: boolean;
  /** Colour on a terminal; `false` for `--no-color`. `NO_COLOR` always turns it off. */
  color?: boolean;
}

/** A column of {@link Output.table}. */
export interface Column<T> {
  /** The heading. */
  header: string;
  /** The cell text for a row. */
  value: (row: T) => string;
  /**
   * How the column gives way on a terminal too narrow for the table: `cut` shortens its cells
   * with "…" (free text without colour: descriptions), `drop` leaves it out (what another
   * command shows: a project's UUID, a deployment's URL). Other columns are never touched:
   * ids are copied from them. A pipe and `--json` always get every column in full.
   */
  fit?: "cut" | "drop";
}

/** The error document printed on stderr under `--json`. */
export interface ErrorDocument {
  error: { code: string; message: string; hint?: string; traceId?: string; status?: number };
}

const encoder = new TextEncoder();

/** Writes results, messages, progress and errors in the shape the user asked for. */
export class Output {
  /** Whether results are JSON. */
  readonly json: boolean;
  /** Whether messages and progress are suppressed. */
  readonly quiet: boolean;
  /** Whether stderr is a terminal (progress redraws a line only there). */
  readonly stderrIsTerminal: boolean;
  /** Whether stdout is a terminal (tables and colour are for people). */
  readonly stdoutIsTerminal: boolean;
  #colorOut: boolean;
  #colorErr: boolean;
  #progressShown = false;
  #progressAt = 0;
  #stdoutClosed = false;

  /** Creates an output; terminal detection happens here. */
  constructor(options: OutputOptions = {}) {
    this.json = options.json ?? false;
    this.quiet = options.quiet ?? false;
    this.stdoutIsTerminal = Deno.stdout.isTerminal();
    this.stderrIsTerminal = Deno.stderr.isTerminal();
    const noColorEnv = (Deno.env.get("NO_COLOR") ?? "") !== "";
    const color = (options.color ?? true) && !noColorEnv;
    this.#colorOut = color && this.stdoutIsTerminal;
    this.#colorErr = color && this.stderrIsTerminal;
  }

  /** Prints a result: `value` as JSON under `--json`, otherwise the text `human()` returns. */
  result(value: unknown, human: () => string): void {
    this.#clearProgress();
    const text = this.json ? JSON.stringify(value, null, 2) : terminalSafe(human());
    if (text !== "") this.write(encoder.encode(text.endsWith("\n") ? text : `${text}\n`));
  }

  /**
   * Prints one record of a stream: a compact JSON line (NDJSON) under `--json`. Throws
   * {@link OutputClosed} once stdout's reader has gone (`| head`), so a stream that would go
   * on forever (`logs --follow`) stops, as `tail -f | head` does.
   */
  record(value: unknown, human: () => string): void {
    this.#clearProgress();
    const text = this.json ? JSON.stringify(value) : terminalSafe(human());
    if (!this.write(encoder.encode(`${text}\n`))) throw new OutputClosed();
  }

  /**
   * Writes bytes as they are to stdout (a response body). Returns `false`, and writes
   * nothing, once the reader has gone (`| head` closed the pipe): the caller stops producing.
   */
  write(bytes: Uint8Array): boolean {
    if (!this.#stdoutClosed) this.#stdoutClosed = !writeSync(Deno.stdout, bytes);
    return !this.#stdoutClosed;
  }

  /** Prints a message for people on stderr (not under `--quiet` or `--json`). */
  info(message: string): void {
    if (this.quiet || this.json) return;
    this.#clearProgress();
    writeSync(Deno.stderr, `${terminalSafe(message)}\n`);
  }

  /** Prints a warning on stderr (not under `--json`). */
  warn(message: string): void {
    if (this.json) return;
    this.#clearProgress();
    writeSync(Deno.stderr, `${this.#err(33, "warning:")} ${terminalSafe(message)}\n`);
  }

  /**
   * Shows a progress line on stderr, redrawn in place on a terminal. Elsewhere progress is
   * dropped: logs should get the final summary from {@link info}, not a line per update.
   */
  progress(message: string): void {
    if (!this.showsProgress) return;
    // Redraw at most ~10 times a second: uploads report every chunk.
    const now = Date.now();
    if (this.#progressShown && now - this.#progressAt < 100) return;
    this.#progressAt = now;
    // One line only: a wrapped line could not be redrawn in place.
    const line = fitToWidth(
      terminalSafe(message.replaceAll(/\s*\n\s*/g, " ")),
      (terminalColumns() ?? 80) - 1,
    );
    writeSync(Deno.stderr, `\r\x1b[2K${this.#err(2, line)}`);
    this.#progressShown = true;
  }

  /**
   * Whether {@link progress} draws anything: on a terminal, without `--json` or `--quiet`.
   * Elsewhere a command prints the lines that matter with {@link info} instead.
   */
  get showsProgress(): boolean {
    return !this.quiet && !this.json && this.stderrIsTerminal;
  }

  /**
   * Prints an error: `error:`/`hint:` lines for people, an {@link ErrorDocument} for `--json`.
   * A cancellation (code `cancelled`: "no" at a prompt) is one plain line for people.
   */
  error(error: unknown): void {
    this.#clearProgress();
    const document = errorDocument(error);
    if (this.json) {
      writeSync(Deno.stderr, `${JSON.stringify(document)}\n`);
      return;
    }
    const { message, hint, status, traceId } = document.error;
    if (
      error instanceof DeployTenantError && !(error instanceof ApiError) &&
      error.code === "cancelled"
    ) {
      // The person answered no (or pressed Ctrl-C) at a prompt: their choice, not a failure.
      writeSync(Deno.stderr, `${terminalSafe(message)}\n`);
      return;
    }
    const lines = [`${this.#err(31, "error:")} ${message}`];
    if (hint) lines.push(`${this.#err(36, "hint:")} ${hint}`);
    const details = [status && `status ${status}`, traceId && `trace id ${traceId}`]
      .filter(Boolean);
    if (details.length > 0) lines.push(this.#err(2, `(${details.join(", ")})`));
    if (!(error instanceof DeployTenantError) && error instanceof Error && error.stack) {
      lines.push(this.#err(2, error.stack)); // an unexpected failure: the stack is the bug report
    }
    writeSync(Deno.stderr, `${terminalSafe(lines.join("\n"))}\n`);
  }

  /**
   * Renders rows as an aligned table with a heading (or `empty` when there are none). On a
   * terminal narrower than the table, columns give way as their {@link Column.fit} says, and a
   * last line names the columns left out.
   */
  table<T>(rows: T[], columns: Column<T>[], empty = "(none)"): string {
    if (rows.length === 0) return this.dim(empty);
    const cells = rows.map((row) => columns.map((column) => column.value(row)));
    // Widths as seen: a coloured cell (`out.status(…)`, `out.green("yes")`) carries escape
    // codes that take no column.
    const natural = columns.map((column, i) =>
      Math.max(column.header.length, ...cells.map((row) => visibleLength(row[i])))
    );
    const room = (this.stdoutIsTerminal && !this.json && terminalColumns()) || Infinity;
    const { shown, widths } = fitColumns(columns, natural, room);
    const format = (row: string[]) =>
      shown.map((i, at) => {
        const cell = visibleLength(row[i]) > widths[i] ? fitToWidth(row[i], widths[i]) : row[i];
        return at === shown.length - 1 ? cell : cell + " ".repeat(widths[i] - visibleLength(cell));
      }).join("  ").trimEnd();
    const header = this.bold(format(columns.map((column) => column.header)));
    const lines = [header, ...cells.map(format)];
    const left = columns.filter((_, i) => !shown.includes(i)).map((column) => column.header);
    if (left.length > 0) {
      const them = left.length > 1 ? "them" : "it";
      lines.push(
        this.dim(`(${left.join(" and ")} left out to fit ${room} columns; --json shows ${them})`),
      );
    }
    return lines.join("\n");
  }

  /** Renders `label: value` lines with aligned values. */
  fields(entries: [label: string, value: string | undefined | null][]): string {
    const shown = entries.filter(([, value]) =>
      value !== undefined && value !== null && value !== ""
    );
    const width = Math.max(...shown.map(([label]) => label.length)) + 1;
    return shown.map(([label, value]) => `${this.dim(`${label}:`.padEnd(width))} ${value}`)
      .join("\n");
  }

  /** Bold text when colour is on (for stdout; messages on stderr are plain). */
  bold(text: string): string {
    return this.#style(text, 1, 22);
  }
  /** Dim text when colour is on. */
  dim(text: string): string {
    return this.#style(text, 2, 22);
  }
  /** Red text when colour is on. */
  red(text: string): string {
    return this.#style(text, 31, 39);
  }
  /** Green text when colour is on. */
  green(text: string): string {
    return this.#style(text, 32, 39);
  }
  /** Yellow text when colour is on. */
  yellow(text: string): string {
    return this.#style(text, 33, 39);
  }
  /** Cyan text when colour is on. */
  cyan(text: string): string {
    return this.#style(text, 36, 39);
  }

  /**
   * A time from the API for people: `2026-12-07 01:55 UTC` on a terminal; elsewhere (a pipe, a
   * script, `--json`) as the API wrote it.
   */
  time(value: string | null | undefined): string {
    if (!value) return "";
    return this.stdoutIsTerminal && !this.json ? formatTime(value) : value;
  }

  /** Colours a deployment status: green success, red failure, yellow pending. */
  status(status: string): string {
    if (status === "success") return this.green(status);
    if (status === "failed") return this.red(status);
    return this.yellow(status);
  }

  /** Styles text bound for stdout. */
  #style(text: string, open: number, close: number): string {
    return this.#colorOut ? `\x1b[${open}m${text}\x1b[${close}m` : text;
  }

  /** Styles text bound for stderr. */
  #err(open: number, text: string): string {
    const close = open === 2 ? 22 : 39;
    return this.#colorErr ? `\x1b[${open}m${text}\x1b[${close}m` : text;
  }

  #clearProgress(): void {
    if (!this.#progressShown) return;
    writeSync(Deno.stderr, "\r\x1b[2K");
    this.#progressShown = false;
  }
}

/** The `{error: {...}}` document for any thrown value; unexpected errors get code `internal`. */
export function errorDocument(error: unknown): ErrorDocument {
  if (error instanceof DeployTenantError) {
    const document: ErrorDocument = { error: { code: error.code, message: error.message } };
    if (error.hint) document.error.hint = error.hint;
    if (error instanceof ApiError) {
      document.error.status = error.status;
      if (error.traceId) document.error.traceId = error.traceId;
    }
    return document;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { error: { code: "internal", message } };
}

/** The exit code for any thrown value: an expected error's own, otherwise 1. */
export function exitCodeOf(error: unknown): ExitCode {
  return error instanceof DeployTenantError ? error.exitCode : ExitCode.failed;
}

/**
 * `text` with its control characters escaped (`new\nline.txt`, `\x1b`), so a value from
 * elsewhere (a file name) stays on its line of a table and cannot drive the terminal.
 */
export function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replaceAll(/[\x00-\x1f\x7f]/g, (char) => {
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    return named[char] ?? `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

/**
 * The escape sequences {@link Output} itself writes for colour (SGR: bold, dim, red, green,
 * yellow, cyan and their resets). Anything else that drives a terminal is not the CLI's.
 */
// deno-lint-ignore no-control-regex
const OWN_SGR = /^\x1b\[(?:1|2|22|31|32|33|36|39)m/;

/**
 * `text` made safe to print for people: every control character a terminal acts on (C0 but
 * the line feed and tab, DEL, and the 8-bit C1 controls such as U+009B, a one-character CSI) is
 * shown escaped as `\x1b`, except the colour codes the CLI writes itself.
 *
 * What the CLI prints for people is largely the tenants' and the API's (app and build log lines,
 * a failed build's error, descriptions, error messages). A raw escape sequence in one could set
 * the window title, write the clipboard (OSC 52), clear the screen or, with `\r`, overwrite
 * the start of a line to forge what the operator reads. So every text for people passes here
 * on its way out, whatever command made it; JSON output escapes controls itself.
 */
export function terminalSafe(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replaceAll(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (char, offset: number) => {
    if (char === "\x1b" && OWN_SGR.test(text.slice(offset, offset + 5))) return char;
    const named: Record<string, string> = { "\r": "\\r" };
    return named[char] ?? `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

/** How many columns `text` takes on a terminal: its length without SGR escape codes. */
function visibleLength(text: string): number {
  // deno-lint-ignore no-control-regex
  return text.replaceAll(/\x1b\[[0-9;]*m/g, "").length;
}

/** Formats a count for people, in groups of three digits: `1 234 567`. */
export function formatCount(count: number): string {
  return String(Math.round(count)).replace(/\B(?=(\d{3})+(?!\d))/g, " ");
}

/**
 * An upload's progress for people: `3.1 MiB of 12.0 MiB (26%) · 4.2 MiB/s`; the rate once
 * `elapsedMs` is long enough to mean something.
 */
export function formatTransfer(sent: number, total: number, elapsedMs: number): string {
  const percent = total > 0 ? Math.min(100, Math.floor((sent / total) * 100)) : 100;
  const rate = elapsedMs >= 250 ? ` · ${formatBytes((sent / elapsedMs) * 1000)}/s` : "";
  return `${formatBytes(sent)} of ${formatBytes(total)} (${percent}%)${rate}`;
}

/** Formats a byte count for people: `512 B`, `1.5 KiB`, `12.0 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = "B";
  for (const next of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${value.toFixed(1)} ${unit}`;
}

/**
 * An RFC 3339 time, short for people: `2026-12-07T01:55:27.263000Z` → `2026-12-07 01:55 UTC`
 * (to the minute, in UTC); text that is not a time is returned as it is.
 */
export function formatTime(value: string): string {
  const time = Date.parse(value);
  if (Number.isNaN(time)) return value;
  const iso = new Date(time).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/**
 * Which columns a table shows, and how wide, in `room` columns: cut columns are cut as far as
 * needed (not below their heading or {@link MIN_CUT_WIDTH}); if that is not enough, droppable
 * columns are left out from the right until it is, the cut columns getting back what is then
 * free. A table that cannot fit even so keeps what is left and wraps.
 */
function fitColumns<T>(
  columns: Column<T>[],
  natural: number[],
  room: number,
): { shown: number[]; widths: number[] } {
  let shown = columns.map((_, i) => i);
  const dropOrder = shown.filter((i) => columns[i].fit === "drop").reverse();
  for (;;) {
    const widths = [...natural];
    let excess = shown.reduce((sum, i) => sum + widths[i], 0) + 2 * (shown.length - 1) - room;
    for (const i of [...shown].reverse()) {
      if (excess <= 0 || columns[i].fit !== "cut") continue;
      const least = Math.min(widths[i], Math.max(columns[i].header.length, MIN_CUT_WIDTH));
      const cut = Math.min(excess, widths[i] - least);
      widths[i] -= cut;
      excess -= cut;
    }
    const drop = dropOrder.shift();
    if (excess <= 0 || drop === undefined) return { shown, widths };
    shown = shown.filter((i) => i !== drop);
  }
}

/** Cut cells keep at least this many columns: a few words still say something. */
const MIN_CUT_WIDTH = 12;

/**
 * The terminal's width in columns: `COLUMNS` when set (as `ls` and `gh` honour it), else the
 * terminal's own; `undefined` when neither is known (a terminal that reports no size).
 */
function terminalColumns(): number | undefined {
  const columns = Number(Deno.env.get("COLUMNS"));
  if (Number.isInteger(columns) && columns > 0) return columns;
  try {
    return Deno.consoleSize().columns || undefined;
  } catch {
    return undefined;
  }
}

/** `text` cut to `width` characters, ending in "…" when cut. */
function fitToWidth(text: string, width: number): string {
  const characters = [...text];
  if (characters.length <= width) return text;
  return `${characters.slice(0, Math.max(0, width - 1)).join("")}…`;
}

/**
 * Thrown by {@link Output.record} when stdout's reader has gone: the command stops, and the CLI
 * exits 0 without a message, as it does when a finite output is cut short by `| head`.
 */
export class OutputClosed extends DeployTenantError {
  /** Creates the error. */
  constructor() {
    super("outputClosed", "stdout was closed by its reader", { exitCode: ExitCode.ok });
    this.name = "OutputClosed";
  }
}

/** Writes all of `data`; returns `false` when the pipe was closed by its reader (`| head`). */
function writeSync(
  file: { writeSync(data: Uint8Array): number },
  data: string | Uint8Array,
): boolean {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let written = 0;
  while (written < bytes.length) {
    try {
      written += file.writeSync(bytes.subarray(written));
    } catch (error) {
      if (error instanceof Deno.errors.BrokenPipe) return false; // `| head` closed the pipe: fine
      throw error;
    }
  }
  return true;
}
