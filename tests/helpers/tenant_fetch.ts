/**
 * A GET to a tenant process straight through its instance's client, as the router sends one.
 *
 * @module
 */
import type { TenantClient } from "../../host/tenant/client.ts";

/** `GET path` (e.g. `/oom`) on the tenant behind `client`, with Host `tenant.localhost`. */
export function tenantGet(client: TenantClient, path = "/"): Promise<Response> {
  return client.fetch({ method: "GET", path, headers: new Headers({ host: "tenant.localhost" }) });
}
