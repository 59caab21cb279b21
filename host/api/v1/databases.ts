/**
 * KV database routes: `GET/POST /organizations/{id}/databases` and `PATCH /databases/{id}`,
 * with exactly the OpenAPI's `KvDatabase` objects. A database's data lives in the host's data
 * dir (`<dataDir>/kv/<id>/`), created by the runtime when a deployment bound to it starts.
 *
 * @module
 */
import type { Hono } from "hono";
import type { QuotaGuard } from "../quotas.ts";
import type { KvDatabase } from "../../../lib/types.ts";
import { type ApiEnv, readJson, setLinkHeader, SMALL_BODY_BYTES } from "../http.ts";
import { isUuid } from "../../store/ids.ts";
import type { Store } from "../../store/store.ts";
import {
  createKvDatabaseBody,
  parseBody,
  parseListQuery,
  RequestError,
  updateKvDatabaseBody,
} from "../validate.ts";
import { databaseNotFound, ownDatabase, ownOrganization } from "./ownership.ts";
import {
  createKvDatabase,
  getKvDatabase,
  listKvDatabases,
  updateKvDatabase,
} from "../../store/kv_databases.ts";

/** Adds the KV database routes to the API app. */
export function registerDatabaseRoutes(
  app: Hono<ApiEnv>,
  store: Store,
  quotas: QuotaGuard,
): void {
  app.get("/v1/organizations/:organizationId/databases", (c) => {
    const organizationId = ownOrganization(c, store, c.req.param("organizationId")).id;
    const query = parseListQuery(new URL(c.req.url).searchParams, {
      sorts: ["created_at"],
      defaultSort: "created_at",
    });
    const page = listKvDatabases(store, organizationId, query);
    setLinkHeader(c, query.page, query.limit, page.total);
    return c.json(page.items.map(kvDatabaseJson));
  });

  app.post("/v1/organizations/:organizationId/databases", async (c) => {
    const organizationId = ownOrganization(c, store, c.req.param("organizationId")).id;
    const body = parseBody(createKvDatabaseBody, await readJson(c, SMALL_BODY_BYTES));
    quotas.assertCanCreate(organizationId, "databases");
    return c.json(kvDatabaseJson(createKvDatabase(store, organizationId, body.description ?? "")));
  });

  app.patch("/v1/databases/:databaseId", async (c) => {
    const database = ownDatabase(c, store, c.req.param("databaseId"));
    const body = parseBody(updateKvDatabaseBody, await readJson(c, SMALL_BODY_BYTES));
    const updated = updateKvDatabase(store, database.id, {
      description: body.description ?? undefined,
    });
    if (!updated) throw databaseNotFound(database.id);
    return c.json(kvDatabaseJson(updated));
  });
}

/**
 * Checks that every bound database (`{"default": id}`) is one of the organization's.
 *
 * @throws {RequestError} 400 `databaseNotFound` naming the first one that is not.
 */
export function assertDatabasesOwned(
  store: Store,
  organizationId: string,
  databases: Record<string, string>,
): void {
  for (const [name, id] of Object.entries(databases)) {
    const database = isUuid(id) ? getKvDatabase(store, id.toLowerCase()) : undefined;
    if (!database || database.organizationId !== organizationId) {
      throw new RequestError(
        400,
        "databaseNotFound",
        `databases.${name}: KV database ${id} was not found in this organization; ` +
          `create one with POST /organizations/${organizationId}/databases`,
      );
    }
  }
}

/** Exactly the OpenAPI `KvDatabase` fields. */
function kvDatabaseJson(database: KvDatabase): KvDatabase {
  const { id, organizationId, description, createdAt, updatedAt } = database;
  return { id, organizationId, description, createdAt, updatedAt };
}
