/**
 * Small SQL helpers every store module shares: row types, a prepared-statement cache,
 * timestamps, paging, LIKE escaping, and JSON columns.
 *
 * @module
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import type { ListQuery, Page } from "./store.ts";

/** A value SQLite hands back. */
export type SqlValue = string | number | null;

/** A row as SQLite hands it back. */
export type Row = Record<string, SqlValue>;

/**
 * The prepared statements of one database, each prepared the first time its SQL is asked for
 * and kept: preparing costs more than running a small query. The store and the modules that
 * own tables of its database (app logs, usage) each keep one.
 */
export class StatementCache {
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();

  /** A cache of `db`'s statements. */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** The statement for `sql`, prepared on first use. */
  get(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) this.#statements.set(sql, statement = this.#db.prepare(sql));
    return statement;
  }

  /** Forgets every statement, before the database closes. */
  clear(): void {
    this.#statements.clear();
  }
}

let lastMicros = 0;

/**
 * Now as RFC 3339 with microseconds, e.g. `2023-09-22T05:38:34.550090Z`. Strictly
 * increasing within the process, so creation order is also timestamp order.
 */
export function timestamp(): string {
  const micros = Math.max(Date.now() * 1000, lastMicros + 1);
  lastMicros = micros;
  const iso = new Date(Math.floor(micros / 1000)).toISOString();
  return `${iso.slice(0, -1)}${String(micros % 1000).padStart(3, "0")}Z`;
}

/** `text` with LIKE's wildcards (`%`, `_`) and `\` escaped, for a `LIKE ? ESCAPE '\'`. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The column `sort` names in `columns`; a `RangeError` for a sort the list does not allow. */
export function sortColumn(columns: Record<string, string>, sort: string): string {
  const column = Object.hasOwn(columns, sort) ? columns[sort] : undefined;
  if (!column) throw new RangeError(`Cannot sort by ${JSON.stringify(sort)}`);
  return column;
}

/** Whether `error` is SQLite's refusal of a row that breaks a UNIQUE constraint. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && /UNIQUE constraint failed/.test(error.message);
}

/** A nullable TEXT column's value: NULL (or a missing column) is `null`, anything else a string. */
export function nullableString(value: SqlValue | undefined): string | null {
  return value === null || value === undefined ? null : String(value);
}

/** `value` for a JSON column: its JSON text, or SQL NULL for `null` and `undefined`. */
export function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/** A JSON column's value parsed; `null` for NULL (or a value that is not text). */
export function parseJson<T>(value: SqlValue | undefined): T | null {
  return typeof value === "string" ? JSON.parse(value) as T : null;
}

/** One page of `from` matching `where`, ordered by `column` then `rowid`, with the total. */
export function page<T>(
  db: DatabaseSync,
  from: string,
  where: string[],
  params: SqlValue[],
  column: string,
  query: ListQuery,
  map: (row: Row) => T,
  select = "*",
  rowid = "rowid",
): Page<T> {
  const whereSql = where.join(" AND ");
  const total = Number(
    (db.prepare(`SELECT COUNT(*) AS n FROM ${from} WHERE ${whereSql}`).get(
      ...params as SQLInputValue[],
    ) as Row | undefined)?.n,
  );
  const direction = query.order === "desc" ? "DESC" : "ASC";
  const items = (db.prepare(
    `SELECT ${select} FROM ${from} WHERE ${whereSql}
     ORDER BY ${column} ${direction}, ${rowid} ${direction} LIMIT ? OFFSET ?`,
  ).all(...params as SQLInputValue[], query.limit, (query.page - 1) * query.limit) as Row[])
    .map(map);
  return { items, total };
}
