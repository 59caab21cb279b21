/**
 * KV databases of organizations (v1 `/organizations/{org}/databases`): created, listed,
 * re-described and deleted; a deployment binds one as `databases.default`.
 *
 * @module
 */
import type { KvDatabase } from "../../lib/types.ts";
import { newUuid } from "./ids.ts";
import { escapeLike, page, type Row, sortColumn, type SqlValue, timestamp } from "./sql.ts";
import type { ListQuery, Page, Store } from "./store.ts";

const KV_DATABASE_SORT_COLUMNS: Record<string, string> = { created_at: "created_at" };

/** Creates a KV database of the organization. */
export function createKvDatabase(
  store: Store,
  organizationId: string,
  description: string,
): KvDatabase {
  const now = timestamp();
  const id = newUuid();
  run(
    store,
    `INSERT INTO kv_databases (id, organization_id, description, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?)`,
    id,
    organizationId,
    description,
    now,
    now,
  );
  return { id, organizationId, description, createdAt: now, updatedAt: now };
}

/** The KV database `id`, if it exists. */
export function getKvDatabase(store: Store, id: string): KvDatabase | undefined {
  const row = get(store, "SELECT * FROM kv_databases WHERE id = ?", id);
  return row ? toKvDatabase(row) : undefined;
}

/** The organization's KV databases, one page of them. `q` matches part of the id. */
export function listKvDatabases(
  store: Store,
  organizationId: string,
  query: ListQuery,
): Page<KvDatabase> {
  const column = sortColumn(KV_DATABASE_SORT_COLUMNS, query.sort);
  const where = ["organization_id = ?"];
  const params: SqlValue[] = [organizationId];
  if (query.q) {
    where.push("id LIKE ? ESCAPE '\\'");
    params.push(`%${escapeLike(query.q.toLowerCase())}%`);
  }
  return page(store.database, "kv_databases", where, params, column, query, toKvDatabase);
}

/** Re-describes a KV database (`undefined` leaves it as is). */
export function updateKvDatabase(
  store: Store,
  id: string,
  patch: { description?: string },
): KvDatabase | undefined {
  return store.transaction(() => {
    const current = getKvDatabase(store, id);
    if (!current) return undefined;
    const description = patch.description ?? current.description;
    const now = timestamp();
    run(
      store,
      "UPDATE kv_databases SET description = ?, updated_at = ? WHERE id = ?",
      description,
      now,
      id,
    );
    return { ...current, description, updatedAt: now };
  });
}

function run(store: Store, sql: string, ...params: SqlValue[]): void {
  store.database.prepare(sql).run(...params);
}

function get(store: Store, sql: string, ...params: SqlValue[]): Row | undefined {
  return store.database.prepare(sql).get(...params) as Row | undefined;
}

function toKvDatabase(row: Row): KvDatabase {
  return {
    id: String(row.id),
    organizationId: String(row.organization_id),
    description: String(row.description),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}

/** Ids of the deployments bound to the KV database (as `databases.default`), oldest first. */
export function deploymentsUsingKvDatabase(store: Store, id: string): string[] {
  return (store.database.prepare(
    `SELECT id FROM deployments WHERE json_extract(databases, '$.default') = ?
     ORDER BY created_at, rowid`,
  ).all(id) as Row[]).map((row) => String(row.id));
}

/** Forgets the KV database (its files are the runtime's to remove). */
export function deleteKvDatabase(store: Store, id: string): void {
  run(store, "DELETE FROM kv_databases WHERE id = ?", id);
}
