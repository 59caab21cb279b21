/**
 * Per-organization quotas: how many projects, deployments, KV databases and custom domains an
 * organization may hold, and how many bytes of files it may store. Defaults are generous (a
 * platform keeps every customer in one organization); `host --quota` sets them. Over a
 * quota, a create is refused with 403 `quotaExceeded` (v2: `QUOTA_EXCEEDED`) and nothing
 * is written.
 *
 * @module
 */
import type { Store } from "../store/store.ts";
import { DEFAULT_KV_MAX_BYTES } from "../tenant/sandbox.ts";
import { RequestError } from "./validate.ts";

/** The quotas of every organization on the host. */
export interface Quotas {
  projects: number;
  /** Deployments kept, across the organization's projects. */
  deployments: number;
  databases: number;
  domains: number;
  /**
   * v2 layers: each holds up to 512 KiB of variables in host.db, and nothing else bounded how
   * many an organization made (50 of them: +25 MB).
   */
  layers: number;
  /** Bytes of the distinct files the organization's deployments hold. */
  storedBytes: number;
  /**
   * The largest a KV database's file (and its write-ahead log) may grow, in bytes: the kernel
   * refuses a tenant's write past it (`RLIMIT_FSIZE`), so no database can fill the host's disk.
   */
  databaseBytes: number;
  /**
   * The most one deployment's build may download into its Deno cache (`npm:`, `jsr:`, `https:`
   * modules), in bytes, each file and directory counted as at least a block: past it the fetch is
   * stopped and the build fails. Without it a deployment importing a module from a server its
   * owner runs filled the host's disk for as long as the fetch could run (5 minutes), outside
   * the storage quota.
   */
  dependencyBytes: number;
}

/** What each organization may hold unless `host --quota` says otherwise. */
export const DEFAULT_QUOTAS: Quotas = {
  projects: 10_000,
  deployments: 100_000,
  databases: 1_000,
  domains: 1_000,
  layers: 1_000,
  storedBytes: 50 * 1024 ** 3,
  databaseBytes: DEFAULT_KV_MAX_BYTES,
  dependencyBytes: 1024 ** 3,
};

type Counted = Exclude<keyof Quotas, "storedBytes" | "databaseBytes" | "dependencyBytes">;

const COUNTS: Record<Counted, string> = {
  projects: "SELECT count(*) AS n FROM projects WHERE organization_id = ?",
  deployments: `SELECT count(*) AS n FROM deployments d JOIN projects p ON p.id = d.project_id
    WHERE p.organization_id = ?`,
  databases: "SELECT count(*) AS n FROM kv_databases WHERE organization_id = ?",
  domains: "SELECT count(*) AS n FROM custom_domains WHERE organization_id = ?",
  layers: "SELECT count(*) AS n FROM layers WHERE organization_id = ?",
};

const WHAT: Record<Counted, string> = {
  projects: "projects",
  deployments: "deployments",
  databases: "KV databases",
  domains: "custom domains",
  layers: "layers",
};

/** Checks creates against the quotas. */
export class QuotaGuard {
  #store: Store;
  /** The quotas in force. */
  readonly quotas: Quotas;

  /** Creates a guard with `quotas` over the defaults. */
  constructor(store: Store, quotas: Partial<Quotas> = {}) {
    this.#store = store;
    this.quotas = { ...DEFAULT_QUOTAS, ...quotas };
  }

  /** Throws 403 `quotaExceeded` when the organization already holds its quota of `kind`. */
  assertCanCreate(organizationId: string, kind: Counted): void {
    const row = this.#store.database.prepare(COUNTS[kind]).get(organizationId);
    const held = Number(row?.n ?? 0);
    const limit = this.quotas[kind];
    if (held >= limit) {
      throw new RequestError(
        403,
        "quotaExceeded",
        `The organization has ${held} ${WHAT[kind]}, its quota is ${limit}: delete some first ` +
          `(the host's operator sets quotas with host --quota ${kind}=<n>)`,
      );
    }
  }

  /** Throws 403 `quotaExceeded` when `newBytes` more would exceed the storage quota. */
  assertCanStore(organizationId: string, newBytes: number): void {
    if (newBytes === 0) return;
    const row = this.#store.database.prepare(
      "SELECT coalesce(sum(size), 0) AS n FROM org_blobs WHERE organization_id = ?",
    ).get(organizationId);
    const held = Number(row?.n ?? 0);
    const limit = this.quotas.storedBytes;
    if (held + newBytes > limit) {
      throw new RequestError(
        403,
        "quotaExceeded",
        `Storing ${newBytes} more bytes would take the organization to ${held + newBytes}, over ` +
          `its quota of ${limit} bytes: delete deployments first (the host's operator sets it ` +
          "with host --quota storage=<size>)",
      );
    }
  }
}
