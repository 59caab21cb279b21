/**
 * The local host's metadata: organizations, tokens, projects, deployments, their assets and
 * build logs, KV databases, in one embedded SQLite database (`node:sqlite`).
 *
 * The database runs in WAL mode with foreign keys on; the schema is upgraded on open by
 * the {@link MIGRATIONS} list, tracked in `PRAGMA user_version`. Asset bytes are not
 * here: they live in the {@link BlobStore} and are referenced by git blob SHA-1.
 *
 * `DatabaseSync` is synchronous, so a {@link Store.transaction} never interleaves with other
 * JavaScript on the host: what it reads stays true until it commits.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type {
  BuildLogEntry,
  CompilerOptions,
  DeploymentPermissions,
  DeploymentStatus,
  Organization,
} from "../../lib/types.ts";
import { newUuid } from "./ids.ts";
import { MIGRATIONS } from "./schema.ts";
import { normalizeDomain, wildcardParent } from "./names.ts";
import {
  escapeLike,
  isUniqueViolation,
  jsonOrNull,
  nullableString,
  page,
  parseJson,
  type Row,
  sortColumn,
  type SqlValue,
  StatementCache,
  timestamp,
} from "./sql.ts";

export { timestamp } from "./sql.ts";

export type { BuildLogEntry, DeploymentStatus, Organization };

/** An organization as stored: the v1 Organization plus the slug v2 host names use. */
export interface OrganizationRecord extends Organization {
  /** Lower-case letters, digits and hyphens: `{app}.{slug}.{baseDomain}`. */
  slug: string;
}

/** Why a revision failed, as v2 reports it (v1 only says `failed`). */
export type FailureReason = "error" | "cancelled" | "timed_out";

/** A failure after a successful build (v2 `failure_detail`). */
export interface FailureDetail {
  stage: string;
  code: string;
  message: string;
}

/** What a v2 deploy adds to a deployment; v1 deployments have the defaults. */
export interface RevisionFields {
  /** Labels of the revision (v2 `labels`). */
  labels: Record<string, string | string[]>;
  /** The v2 `config` the revision was deployed with; `null`: none given (v1, or inherited). */
  config: Record<string, unknown> | null;
  /** Layer ids of the revision; `null`: the app's layers, as they are now. */
  layerIds: string[] | null;
  /** Whether the per-revision preview name was asked for (v2 `preview`). */
  preview: boolean;
}

/** A project as stored: the API's Project plus the organization that owns it. */
export interface ProjectRecord {
  id: string;
  organizationId: string;
  name: string;
  description: string;
  createdAt: string;
  updatedAt: string;
}

/** The fields a deployment's request sets, as stored: its entry point, variables and settings. */
export interface DeploymentRequestFields {
  description: string;
  /** The entry point as an asset path relative to the deployment root, e.g. `src/main.ts`. */
  entryPointUrl: string;
  envVars: Record<string, string>;
  databases: Record<string, string>;
  /** Resolved host names (no placeholders); `null` means "the default domain". */
  domains: string[] | null;
  /** The `domains` of the request, placeholders kept (`null`: the default domain, as when left out). */
  requestedDomains?: string[] | null;
  importMapUrl: string | null;
  lockFileUrl: string | null;
  compilerOptions: CompilerOptions | null;
  requestTimeout: number | null;
  permissions: DeploymentPermissions | null;
}

/** Everything needed to build, run and describe a deployment. */
export interface DeploymentRecord extends DeploymentRequestFields {
  id: string;
  projectId: string;
  projectName: string;
  organizationId: string;
  status: DeploymentStatus;
  /** The organization's slug (v2 host names). */
  organizationSlug: string;
  /** v2's fields; defaults for a v1 deployment. */
  revision: RevisionFields;
  /** Whether its `Deno.cron` jobs run (v1 `enableCron`, v2 `config.crons`). */
  enableCron: boolean;
  /** The program's arguments, `Deno.args` (v2 `config.runtime.args`; v1 has none). */
  runtimeArgs: string[];
  failureReason: FailureReason | null;
  failureDetail: FailureDetail | null;
  cancellationRequestedAt: string | null;
  buildStartedAt: string | null;
  buildFinishedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * One entry of a deployment's file tree. `path` is relative to the deployment root.
 * A symlink's `target` is the asset path it points at, also relative to the root
 * (already resolved against the link's directory).
 */
export interface AssetRecord {
  path: string;
  kind: "file" | "symlink";
  gitSha1?: string;
  target?: string;
}

/** A deployment to insert: the record's own fields plus its file tree. */
export interface NewDeployment extends DeploymentRequestFields {
  id: string;
  projectId: string;
  /** v2's fields (labels, config, layers, preview); default: a v1 deployment's. */
  revision?: RevisionFields;
  /** Whether its `Deno.cron` jobs run; default no. */
  enableCron?: boolean;
  /** The program's arguments (`Deno.args`); default none. */
  runtimeArgs?: string[];
  assets: AssetRecord[];
}

/** Paging, filtering and ordering of a list. `sort` is a column name the list allows. */
export interface ListQuery {
  page: number;
  limit: number;
  q?: string;
  sort: string;
  order: "asc" | "desc";
}

/** One page of a list and the number of items across all pages. */
export interface Page<T> {
  items: T[];
  total: number;
}

/** The project name is already used (names are unique across organizations). */
export class ProjectNameTakenError extends Error {
  /** The name that clashed. */
  readonly projectName: string;

  /** Creates the error for `name`. */
  constructor(name: string) {
    super(`The project name "${name}" is already taken`);
    this.name = "ProjectNameTakenError";
    this.projectName = name;
  }
}

/** A deployment refers to a blob its organization has not uploaded (or that was freed). */
export class UnknownBlobError extends Error {
  /** The hash that is not available to the organization. */
  readonly gitSha1: string;

  /** Creates the error for `gitSha1`. */
  constructor(gitSha1: string) {
    super(`Blob ${gitSha1} is not available to this organization`);
    this.name = "UnknownBlobError";
    this.gitSha1 = gitSha1;
  }
}

const PROJECT_SORT_COLUMNS: Record<string, string> = { name: "name", updated_at: "updated_at" };
const DEPLOYMENT_SORT_COLUMNS: Record<string, string> = { id: "id", created_at: "created_at" };

/** The host's metadata store. Open one per data directory; it is not shared between processes. */
export class Store {
  #db: DatabaseSync;
  #statements: StatementCache;
  #transactionDepth = 0;
  #logSubscribers = new Map<string, Set<(entry: BuildLogEntry | null) => void>>();

  private constructor(db: DatabaseSync) {
    this.#db = db;
    this.#statements = new StatementCache(db);
  }

  /** Opens (creating if needed) the database at `path` and brings its schema up to date. */
  static open(path: string): Store {
    if (path !== ":memory:") {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // It holds tokens' hashes and deployments' env vars: the host user's alone. SQLite makes
      // the -wal and -shm files with the database file's mode, so they follow.
      try {
        closeSync(openSync(path, "a", 0o600));
      } catch { /* SQLite's open below says what is wrong with the path */ }
      for (const suffix of ["", "-wal", "-shm"]) {
        try {
          chmodSync(path + suffix, 0o600);
        } catch { /* not made yet */ }
      }
    }
    const db = new DatabaseSync(path);
    db.exec("PRAGMA journal_mode = WAL");
    // NORMAL in WAL mode: a process crash loses nothing, a power cut may lose the last
    // commits but never corrupts the database.
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("PRAGMA busy_timeout = 5000");
    // The WAL is truncated back to this after a checkpoint: a burst of writes (a tenant's
    // logs) does not leave a write-ahead log as large as the burst on disk.
    db.exec("PRAGMA journal_size_limit = 4194304");
    const store = new Store(db);
    try {
      store.#migrate();
    } catch (error) {
      db.close();
      throw error;
    }
    return store;
  }

  /**
   * The database handle, for modules that keep their own tables (app logs, usage). Wrap
   * multi-statement writes in {@link transaction} so they nest with the store's own.
   */
  get database(): DatabaseSync {
    return this.#db;
  }

  /** The schema version: how many {@link MIGRATIONS} have been applied. */
  get schemaVersion(): number {
    return Number(this.#get("PRAGMA user_version")?.user_version ?? 0);
  }

  /** Closes the database. Live build-log subscribers are told the stream ended. */
  close(): void {
    for (const id of [...this.#logSubscribers.keys()]) this.#endBuildLogs(id);
    this.#statements.clear();
    this.#db.close();
  }

  /**
   * Runs `fn` in a transaction: committed if it returns, rolled back if it throws.
   * Nested calls become savepoints. `fn` must be synchronous.
   */
  transaction<T>(fn: () => T): T {
    const depth = this.#transactionDepth;
    const savepoint = `sp${depth}`;
    this.#db.exec(depth === 0 ? "BEGIN IMMEDIATE" : `SAVEPOINT ${savepoint}`);
    this.#transactionDepth++;
    try {
      const result = fn();
      if (result instanceof Promise) {
        throw new TypeError("Store.transaction() takes a synchronous function");
      }
      this.#db.exec(depth === 0 ? "COMMIT" : `RELEASE ${savepoint}`);
      return result;
    } catch (error) {
      // After some errors (SQLITE_FULL, SQLITE_IOERR) SQLite has rolled the whole transaction
      // back itself: rolling back again would throw and hide the error that says why.
      if (this.#db.isTransaction) {
        if (depth === 0) {
          this.#db.exec("ROLLBACK");
        } else {
          this.#db.exec(`ROLLBACK TO ${savepoint}`);
          this.#db.exec(`RELEASE ${savepoint}`);
        }
      }
      throw error;
    } finally {
      this.#transactionDepth--;
    }
  }

  // ---- organizations and tokens ----

  /** The first organization, created with `name` if there is none yet. */
  ensureOrganization(name: string): OrganizationRecord {
    return this.transaction(() => {
      const row = this.#get(
        "SELECT * FROM organizations ORDER BY created_at, rowid LIMIT 1",
      );
      return row ? toOrganization(row) : this.createOrganization(name);
    });
  }

  /** Creates another organization. */
  createOrganization(name: string): OrganizationRecord {
    const now = timestamp();
    const id = newUuid();
    const base = organizationSlug(name) || `org-${id.replaceAll("-", "").slice(0, 12)}`;
    let slug = base;
    for (let n = 2; this.#get("SELECT 1 AS taken FROM organizations WHERE slug = ?", slug); n++) {
      slug = `${base}-${n}`;
    }
    this.#run(
      "INSERT INTO organizations (id, name, slug, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
      id,
      name,
      slug,
      now,
      now,
    );
    return { id, name, slug, createdAt: now, updatedAt: now };
  }

  /** The organization `id`, if it exists. */
  getOrganization(id: string): OrganizationRecord | undefined {
    const row = this.#get("SELECT * FROM organizations WHERE id = ?", id);
    return row ? toOrganization(row) : undefined;
  }

  /** The organization whose id or slug is `idOrSlug` (v2's `X-Deno-Org`), if it exists. */
  findOrganization(idOrSlug: string): OrganizationRecord | undefined {
    const row = this.#get(
      "SELECT * FROM organizations WHERE id = ? OR slug = ?",
      idOrSlug,
      idOrSlug,
    );
    return row ? toOrganization(row) : undefined;
  }

  /** Grants `token` access to the organization. Only the token's SHA-256 is stored. */
  setToken(organizationId: string, token: string): void {
    this.#run(
      "INSERT OR REPLACE INTO tokens (token_hash, organization_id, created_at) VALUES (?, ?, ?)",
      hashToken(token),
      organizationId,
      timestamp(),
    );
  }

  /**
   * Makes `token` the organization's only token: any other it had no longer authenticates.
   * The host gives its organization the token it was started with this way, so a token that
   * leaked is revoked by starting the host with a new one.
   */
  replaceTokens(organizationId: string, token: string): void {
    this.transaction(() => {
      this.#run("DELETE FROM tokens WHERE organization_id = ?", organizationId);
      this.setToken(organizationId, token);
    });
  }

  /** The organization a token belongs to, or `undefined` for an unknown token. */
  organizationForToken(token: string): string | undefined {
    const hash = hashToken(token);
    // Looking the row up by SHA-256 leaks no useful timing: nobody can steer the hash of a
    // guess towards a stored one. The final comparison is constant-time all the same.
    const row = this.#get(
      "SELECT token_hash, organization_id FROM tokens WHERE token_hash = ?",
      hash,
    );
    if (!row) return undefined;
    const stored = Buffer.from(String(row.token_hash), "hex");
    const given = Buffer.from(hash, "hex");
    return stored.length === given.length && timingSafeEqual(stored, given)
      ? String(row.organization_id)
      : undefined;
  }

  // ---- projects ----

  /** Creates a project. Throws {@link ProjectNameTakenError} when the name is used. */
  createProject(
    organizationId: string,
    project: { name: string; description: string },
  ): ProjectRecord {
    const now = timestamp();
    const id = newUuid();
    try {
      this.#run(
        `INSERT INTO projects (id, organization_id, name, description, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
        id,
        organizationId,
        project.name,
        project.description,
        now,
        now,
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw new ProjectNameTakenError(project.name);
      throw error;
    }
    return { id, organizationId, ...project, createdAt: now, updatedAt: now };
  }

  /** Whether a project (of any organization) has this name. */
  isProjectNameTaken(name: string): boolean {
    return this.#get("SELECT 1 AS taken FROM projects WHERE name = ?", name) !== undefined;
  }

  /** The project named `name` (names are unique across organizations), if it exists. */
  findProjectByName(name: string): ProjectRecord | undefined {
    const row = this.#get("SELECT * FROM projects WHERE name = ?", name);
    return row ? toProject(row) : undefined;
  }

  /** The project `id`, if it exists. */
  getProject(id: string): ProjectRecord | undefined {
    const row = this.#get("SELECT * FROM projects WHERE id = ?", id);
    return row ? toProject(row) : undefined;
  }

  /**
   * The organization's projects, one page of them. `q` matches part of the name or the
   * whole id; `sort` is `name` or `updated_at`.
   */
  listProjects(organizationId: string, query: ListQuery): Page<ProjectRecord> {
    const column = sortColumn(PROJECT_SORT_COLUMNS, query.sort);
    const where = ["organization_id = ?"];
    const params: SqlValue[] = [organizationId];
    if (query.q) {
      where.push("(name LIKE ? ESCAPE '\\' OR id = ?)");
      params.push(`%${escapeLike(query.q.toLowerCase())}%`, query.q.toLowerCase());
    }
    return page(this.#db, "projects", where, params, column, query, toProject);
  }

  /**
   * Renames and/or re-describes a project (`undefined` leaves a field as is). Throws
   * {@link ProjectNameTakenError}. On rename, the project's host names under `baseDomain`
   * (`{old}.<base>` and `{old}-{deployment}.<base>`) follow the new name.
   */
  updateProject(
    id: string,
    patch: { name?: string; description?: string },
    baseDomain?: string,
  ): ProjectRecord | undefined {
    return this.transaction(() => {
      const current = this.getProject(id);
      if (!current) return undefined;
      const name = patch.name ?? current.name;
      const description = patch.description ?? current.description;
      const now = timestamp();
      try {
        this.#run(
          "UPDATE projects SET name = ?, description = ?, updated_at = ? WHERE id = ?",
          name,
          description,
          now,
          id,
        );
      } catch (error) {
        if (isUniqueViolation(error)) throw new ProjectNameTakenError(name);
        throw error;
      }
      if (name !== current.name && baseDomain) {
        this.#renameProjectDomains(id, current.name, name, baseDomain);
      }
      return { ...current, name, description, updatedAt: now };
    });
  }

  /** Deletes a project and, by cascade, its deployments. Free their blobs first. */
  deleteProject(id: string): void {
    this.transaction(() => {
      for (const deploymentId of this.listDeploymentIds(id)) this.#endBuildLogs(deploymentId);
      this.#run("DELETE FROM projects WHERE id = ?", id);
    });
  }

  // ---- blobs an organization may reuse ----

  /** Records that the organization uploaded the blob, so it may refer to it by hash later. */
  recordOrgBlob(organizationId: string, gitSha1: string, size = 0): void {
    this.#run(
      "INSERT OR IGNORE INTO org_blobs (organization_id, git_sha1, size) VALUES (?, ?, ?)",
      organizationId,
      gitSha1,
      size,
    );
  }

  /** Whether the organization has uploaded the blob. */
  orgHasBlob(organizationId: string, gitSha1: string): boolean {
    return this.#get(
      "SELECT 1 AS present FROM org_blobs WHERE organization_id = ? AND git_sha1 = ?",
      organizationId,
      gitSha1,
    ) !== undefined;
  }

  // ---- deployments ----

  /**
   * Inserts a pending deployment and its assets in one transaction. Every file must be a
   * blob its organization has uploaded (checked again here, inside the transaction);
   * otherwise throws {@link UnknownBlobError} and inserts nothing. Returns `undefined`
   * when the project no longer exists.
   */
  createDeployment(deployment: NewDeployment): DeploymentRecord | undefined {
    return this.transaction(() => {
      const project = this.getProject(deployment.projectId);
      if (!project) return undefined;
      for (const asset of deployment.assets) {
        if (asset.gitSha1 && !this.orgHasBlob(project.organizationId, asset.gitSha1)) {
          throw new UnknownBlobError(asset.gitSha1);
        }
      }
      const now = timestamp();
      this.#run(
        `INSERT INTO deployments (id, project_id, status, description, entry_point_url, env_vars,
           databases, domains, import_map_url, lock_file_url, compiler_options, request_timeout,
           permissions, requested_domains, labels, config, layers, preview, enable_cron,
           runtime_args, created_at, updated_at)
         VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        deployment.id,
        deployment.projectId,
        deployment.description,
        deployment.entryPointUrl,
        JSON.stringify(deployment.envVars),
        JSON.stringify(deployment.databases),
        jsonOrNull(deployment.domains),
        deployment.importMapUrl,
        deployment.lockFileUrl,
        jsonOrNull(deployment.compilerOptions),
        deployment.requestTimeout,
        jsonOrNull(deployment.permissions),
        jsonOrNull(deployment.requestedDomains),
        JSON.stringify(deployment.revision?.labels ?? {}),
        jsonOrNull(deployment.revision?.config),
        jsonOrNull(deployment.revision?.layerIds),
        deployment.revision?.preview ? 1 : 0,
        deployment.enableCron ? 1 : 0,
        JSON.stringify(deployment.runtimeArgs ?? []),
        now,
        now,
      );
      for (const asset of deployment.assets) {
        this.#run(
          `INSERT INTO deployment_assets (deployment_id, path, kind, git_sha1, target)
           VALUES (?, ?, ?, ?, ?)`,
          deployment.id,
          asset.path,
          asset.kind,
          asset.gitSha1 ?? null,
          asset.target ?? null,
        );
      }
      return this.getDeploymentRecord(deployment.id)!;
    });
  }

  /** Everything needed to build and run the deployment, if it exists. */
  getDeploymentRecord(id: string): DeploymentRecord | undefined {
    const row = this.#get(
      `SELECT ${DEPLOYMENT_COLUMNS} FROM ${DEPLOYMENT_TABLES} WHERE d.id = ?`,
      id,
    );
    return row ? toDeployment(row) : undefined;
  }

  /** The project's deployments, one page of them. `q` matches part of the id. */
  listDeployments(projectId: string, query: ListQuery): Page<DeploymentRecord> {
    const column = sortColumn(DEPLOYMENT_SORT_COLUMNS, query.sort);
    const where = ["d.project_id = ?"];
    const params: SqlValue[] = [projectId];
    if (query.q) {
      where.push("d.id LIKE ? ESCAPE '\\'");
      params.push(`%${escapeLike(query.q.toLowerCase())}%`);
    }
    return page(
      this.#db,
      DEPLOYMENT_TABLES,
      where,
      params,
      `d.${column}`,
      query,
      toDeployment,
      DEPLOYMENT_COLUMNS,
      "d.rowid",
    );
  }

  /**
   * Up to `limit` of the project's deployments, newest first, from the `offset`th on, with v2's
   * status (`queued`, `building`, `succeeded`, `failed`) when `status` is given. A page is read
   * a page at a time: an app may hold 100 000 revisions.
   */
  listRevisionPage(
    projectId: string,
    { offset, limit, status }: { offset: number; limit: number; status?: string },
  ): DeploymentRecord[] {
    const conditions: Record<string, string> = {
      queued: "d.status = 'pending' AND d.build_started_at IS NULL",
      building: "d.status = 'pending' AND d.build_started_at IS NOT NULL",
      succeeded: "d.status = 'success'",
      failed: "d.status = 'failed'",
    };
    // An unknown status matches nothing, as a filter on the status field would.
    const condition = status === undefined ? "1" : conditions[status] ?? "0";
    return this.#all(
      `SELECT ${DEPLOYMENT_COLUMNS} FROM ${DEPLOYMENT_TABLES}
       WHERE d.project_id = ? AND (${condition})
       ORDER BY d.created_at DESC, d.rowid DESC LIMIT ? OFFSET ?`,
      projectId,
      limit,
      offset,
    ).map(toDeployment);
  }

  /**
   * The project's built deployments whose stored names include `domain`, oldest first: where a
   * name is served from, without reading every deployment of the project.
   */
  listBuiltDeploymentsNamed(projectId: string, domain: string): DeploymentRecord[] {
    return this.#all(
      `SELECT ${DEPLOYMENT_COLUMNS} FROM ${DEPLOYMENT_TABLES}
       WHERE d.project_id = ? AND d.status = 'success' AND instr(d.domains, ?) > 0
       ORDER BY d.created_at, d.rowid`,
      projectId,
      JSON.stringify(domain),
    ).map(toDeployment);
  }

  /** The ids of all the project's deployments, oldest first. */
  listDeploymentIds(projectId: string): string[] {
    return this.#all(
      "SELECT id FROM deployments WHERE project_id = ? ORDER BY created_at, rowid",
      projectId,
    ).map((row) => String(row.id));
  }

  /** The deployment's file tree, sorted by path. */
  listDeploymentAssets(id: string): AssetRecord[] {
    return this.#all(
      "SELECT path, kind, git_sha1, target FROM deployment_assets WHERE deployment_id = ? ORDER BY path",
      id,
    ).map((row) => {
      const asset: AssetRecord = { path: String(row.path), kind: row.kind as AssetRecord["kind"] };
      if (row.git_sha1 !== null) asset.gitSha1 = String(row.git_sha1);
      if (row.target !== null) asset.target = String(row.target);
      return asset;
    });
  }

  /**
   * Moves a deployment to `status`. On `success`, `domains` (resolved host names; default:
   * the stored ones) are bound to it: a name another deployment of the same organization
   * held moves here; a name held by another organization's deployment is not taken (a
   * build log warning says so). Leaving `pending` ends the live build-log streams.
   * A deployment that no longer exists is ignored (it was deleted mid-build).
   */
  setDeploymentStatus(id: string, status: DeploymentStatus, domains?: string[]): void {
    const skipped: string[] = [];
    const found = this.transaction(() => {
      const record = this.getDeploymentRecord(id);
      if (!record) return false;
      let stored = record.domains;
      if (status === "success") {
        stored = [];
        for (const domain of new Set((domains ?? record.domains ?? []).map(normalizeDomain))) {
          if (this.#bindDomain(domain, record)) stored.push(domain);
          else skipped.push(domain);
        }
      }
      const now = timestamp();
      this.#run(
        `UPDATE deployments SET status = ?, domains = ?, updated_at = ?,
           build_finished_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END
         WHERE id = ?`,
        status,
        jsonOrNull(stored),
        now,
        status,
        now,
        id,
      );
      return true;
    });
    if (!found) return;
    for (const domain of skipped) {
      this.appendBuildLog(
        id,
        "warning",
        `Domain ${domain} is attached to another organization's deployment; not attached here`,
      );
    }
    if (status !== "pending") this.#endBuildLogs(id);
  }

  /** Records that the build of `id` began (v2: `queued` → `building`). */
  markBuildStarted(id: string): void {
    this.#run("UPDATE deployments SET build_started_at = ? WHERE id = ?", timestamp(), id);
  }

  /** Records why `id` failed (v2's `failure_reason` and `failure_detail`). */
  setFailure(id: string, reason: FailureReason, detail: FailureDetail | null = null): void {
    this.#run(
      "UPDATE deployments SET failure_reason = ?, failure_detail = ? WHERE id = ?",
      reason,
      jsonOrNull(detail),
      id,
    );
  }

  /** Records a cancellation request (v2 `POST /revisions/{id}/cancel`); the build checks it. */
  requestCancellation(id: string): void {
    this.#run(
      "UPDATE deployments SET cancellation_requested_at = coalesce(cancellation_requested_at, ?) WHERE id = ?",
      timestamp(),
      id,
    );
  }

  /** Ids of deployments still `pending`, oldest first: builds to resume after a restart. */
  pendingDeployments(): string[] {
    return this.#all(
      "SELECT id FROM deployments WHERE status = 'pending' ORDER BY created_at, rowid",
    ).map((row) => String(row.id));
  }

  /**
   * The deployment serving this host name (case-insensitive), if any: the one bound to the
   * name itself, else the one bound to the wildcard a level up (`*.example.net`).
   */
  findDeploymentByDomain(domain: string): string | undefined {
    const name = normalizeDomain(domain);
    for (const candidate of [name, wildcardParent(name)]) {
      if (candidate === undefined) continue;
      const row = this.#get(
        "SELECT deployment_id FROM domain_bindings WHERE domain = ?",
        candidate,
      );
      if (row) return String(row.deployment_id);
    }
    return undefined;
  }

  /** The organization whose deployment serves this host name, if any. */
  domainOrganization(domain: string): string | undefined {
    const row = this.#get(
      `SELECT p.organization_id FROM domain_bindings b
       JOIN deployments d ON d.id = b.deployment_id
       JOIN projects p ON p.id = d.project_id
       WHERE b.domain = ?`,
      normalizeDomain(domain),
    );
    return row ? String(row.organization_id) : undefined;
  }

  /** Hashes of the blobs this deployment uses and no other deployment does. */
  blobsOnlyUsedBy(deploymentId: string): string[] {
    return this.#all(
      `SELECT DISTINCT a.git_sha1 FROM deployment_assets a
       WHERE a.deployment_id = ? AND a.git_sha1 IS NOT NULL
         AND NOT EXISTS (
           SELECT 1 FROM deployment_assets b
           WHERE b.git_sha1 = a.git_sha1 AND b.deployment_id <> a.deployment_id
         )
       ORDER BY a.git_sha1`,
      deploymentId,
    ).map((row) => String(row.git_sha1));
  }

  /**
   * Hashes of the blobs this deployment uses and no other deployment of its project does: the
   * project's copies of them (`BlobStore.projectCopy`) can go with it.
   */
  blobsOnlyInProjectUsedBy(deploymentId: string): string[] {
    return this.#all(
      `SELECT DISTINCT a.git_sha1 FROM deployment_assets a
       JOIN deployments d ON d.id = a.deployment_id
       WHERE a.deployment_id = ? AND a.git_sha1 IS NOT NULL
         AND NOT EXISTS (
           SELECT 1 FROM deployment_assets b
           JOIN deployments e ON e.id = b.deployment_id
           WHERE b.git_sha1 = a.git_sha1 AND b.deployment_id <> a.deployment_id
             AND e.project_id = d.project_id
         )
       ORDER BY a.git_sha1`,
      deploymentId,
    ).map((row) => String(row.git_sha1));
  }

  /**
   * Deletes the deployment with its assets, logs and domains, and forgets (in `org_blobs`)
   * the blobs nothing else uses. Returns those hashes: the caller removes the files.
   */
  deleteDeployment(id: string): string[] {
    const freed = this.transaction(() => {
      const hashes = this.blobsOnlyUsedBy(id);
      this.#run("DELETE FROM deployments WHERE id = ?", id);
      for (const hash of hashes) this.#run("DELETE FROM org_blobs WHERE git_sha1 = ?", hash);
      return hashes;
    });
    this.#endBuildLogs(id);
    return freed;
  }

  // ---- build logs ----

  /** Appends a build log line and hands it to live subscribers. Ignored for a deleted deployment. */
  appendBuildLog(id: string, level: string, message: string): void {
    const { changes } = this.#statements.get(
      `INSERT INTO build_logs (deployment_id, seq, level, message)
       SELECT ?1, COALESCE((SELECT MAX(seq) FROM build_logs WHERE deployment_id = ?1), 0) + 1, ?2, ?3
       WHERE EXISTS (SELECT 1 FROM deployments WHERE id = ?1)`,
    ).run(id, level, message);
    if (Number(changes) === 0) return;
    for (const subscriber of this.#logSubscribers.get(id) ?? []) {
      notify(subscriber, { level, message });
    }
  }

  /** The deployment's build log so far, in order. */
  buildLogs(id: string): BuildLogEntry[] {
    return this.#all(
      "SELECT level, message FROM build_logs WHERE deployment_id = ? ORDER BY seq",
      id,
    ).map((row) => ({ level: String(row.level), message: String(row.message) }));
  }

  /**
   * Calls `fn` with each build log line appended from now on, then with `null` once the
   * build ends (or at once, asynchronously, if the deployment is not pending). Read
   * {@link buildLogs} in the same synchronous step to miss nothing. Returns the unsubscriber.
   */
  subscribeBuildLogs(id: string, fn: (entry: BuildLogEntry | null) => void): () => void {
    if (this.getDeploymentRecord(id)?.status !== "pending") {
      let active = true;
      queueMicrotask(() => active && notify(fn, null));
      return () => {
        active = false;
      };
    }
    const subscribers = this.#logSubscribers.get(id) ?? new Set();
    this.#logSubscribers.set(id, subscribers);
    subscribers.add(fn);
    return () => {
      subscribers.delete(fn);
      if (subscribers.size === 0 && this.#logSubscribers.get(id) === subscribers) {
        this.#logSubscribers.delete(id);
      }
    };
  }

  /** The deployment (and its project) bound to exactly this host name, if any. */
  domainBinding(domain: string): { deploymentId: string; projectId: string } | undefined {
    const row = this.#get(
      `SELECT b.deployment_id, d.project_id FROM domain_bindings b
       JOIN deployments d ON d.id = b.deployment_id WHERE b.domain = ?`,
      normalizeDomain(domain),
    );
    return row
      ? { deploymentId: String(row.deployment_id), projectId: String(row.project_id) }
      : undefined;
  }

  /**
   * Binds a host name to a deployment and lists it in the deployment's `domains`; a name
   * another deployment of the organization held moves here. Returns `false` (and changes
   * nothing) when another organization's deployment holds it.
   */
  attachDomain(deploymentId: string, domain: string): boolean {
    return this.transaction(() => {
      const record = this.getDeploymentRecord(deploymentId);
      if (!record) return false;
      const name = normalizeDomain(domain);
      if (!this.#bindDomain(name, record)) return false;
      const domains = record.domains ?? [];
      if (!domains.includes(name)) {
        this.#run(
          "UPDATE deployments SET domains = ?, updated_at = ? WHERE id = ?",
          JSON.stringify([...domains, name]),
          timestamp(),
          deploymentId,
        );
      }
      return true;
    });
  }

  /** Unbinds a host name from a deployment. Returns `false` when it was not attached there. */
  detachDomain(deploymentId: string, domain: string): boolean {
    return this.transaction(() => {
      const record = this.getDeploymentRecord(deploymentId);
      if (!record) return false;
      const name = normalizeDomain(domain);
      const { changes } = this.#statements.get(
        "DELETE FROM domain_bindings WHERE domain = ? AND deployment_id = ?",
      ).run(name, deploymentId);
      const listed = record.domains?.includes(name) ?? false;
      if (listed) {
        this.#run(
          "UPDATE deployments SET domains = ?, updated_at = ? WHERE id = ?",
          JSON.stringify(record.domains!.filter((d) => d !== name)),
          timestamp(),
          deploymentId,
        );
      }
      return Number(changes) > 0 || listed;
    });
  }

  // ---- internals ----

  #migrate(): void {
    const version = this.schemaVersion;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `The database schema is version ${version}, newer than this program knows ` +
          `(${MIGRATIONS.length}); upgrade deploy-tenant`,
      );
    }
    for (let next = version; next < MIGRATIONS.length; next++) {
      this.transaction(() => {
        this.#db.exec(MIGRATIONS[next]);
        this.#db.exec(`PRAGMA user_version = ${next + 1}`);
      });
    }
  }

  /** Binds a host name to the deployment unless another organization holds it. */
  #bindDomain(domain: string, record: DeploymentRecord): boolean {
    const holder = this.#get(
      `SELECT b.deployment_id, d.domains, p.organization_id FROM domain_bindings b
       JOIN deployments d ON d.id = b.deployment_id
       JOIN projects p ON p.id = d.project_id
       WHERE b.domain = ?`,
      domain,
    );
    if (holder && holder.deployment_id !== record.id) {
      if (holder.organization_id !== record.organizationId) return false;
      // The name moves: the previous holder no longer lists it.
      const remaining = parseJson<string[]>(holder.domains)?.filter((d) => d !== domain) ?? null;
      this.#run(
        "UPDATE deployments SET domains = ? WHERE id = ?",
        jsonOrNull(remaining),
        holder.deployment_id,
      );
    }
    this.#run(
      `INSERT INTO domain_bindings (domain, deployment_id) VALUES (?, ?)
       ON CONFLICT (domain) DO UPDATE SET deployment_id = excluded.deployment_id`,
      domain,
      record.id,
    );
    return true;
  }

  #renameProjectDomains(projectId: string, from: string, to: string, baseDomain: string): void {
    const base = normalizeDomain(baseDomain);
    const org = String(
      this.#get(
        "SELECT o.slug FROM organizations o JOIN projects p ON p.organization_id = o.id WHERE p.id = ?",
        projectId,
      )?.slug,
    );
    // v1's names and their v2 twins under the organization's slug.
    const rename = (domain: string, deploymentId: string): string => {
      for (const suffix of [`.${base}`, `.${org}.${base}`]) {
        if (domain === `${from}${suffix}`) return `${to}${suffix}`;
        if (domain === `${from}-${deploymentId}${suffix}`) return `${to}-${deploymentId}${suffix}`;
      }
      return domain;
    };
    for (
      const row of this.#all("SELECT id, domains FROM deployments WHERE project_id = ?", projectId)
    ) {
      const id = String(row.id);
      const domains = parseJson<string[]>(row.domains);
      if (domains) {
        this.#run(
          "UPDATE deployments SET domains = ? WHERE id = ?",
          JSON.stringify(domains.map((d) => rename(d, id))),
          id,
        );
      }
      for (
        const binding of this.#all("SELECT domain FROM domain_bindings WHERE deployment_id = ?", id)
      ) {
        const renamed = rename(String(binding.domain), id);
        if (renamed !== binding.domain) {
          this.#run(
            "UPDATE domain_bindings SET domain = ? WHERE domain = ?",
            renamed,
            binding.domain,
          );
        }
      }
    }
  }

  #endBuildLogs(id: string): void {
    const subscribers = this.#logSubscribers.get(id);
    if (!subscribers) return;
    this.#logSubscribers.delete(id);
    for (const subscriber of subscribers) notify(subscriber, null);
  }

  #get(sql: string, ...params: SqlValue[]): Row | undefined {
    return this.#statements.get(sql).get(...params) as Row | undefined;
  }

  #all(sql: string, ...params: SqlValue[]): Row[] {
    return this.#statements.get(sql).all(...params) as Row[];
  }

  #run(sql: string, ...params: SqlValue[]): void {
    this.#statements.get(sql).run(...params);
  }
}

function notify(
  fn: (entry: BuildLogEntry | null) => void,
  entry: BuildLogEntry | null,
): void {
  try {
    fn(entry);
  } catch (error) {
    // One broken subscriber must not break the build that is logging.
    console.error("build log subscriber failed:", error);
  }
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** A slug from an organization's name: `local` stays `local`; empty when nothing is left. */
function organizationSlug(name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 32);
  return slug.length >= 3 ? slug.replace(/-+$/, "") : "";
}

const DEPLOYMENT_TABLES = "deployments d JOIN projects p ON p.id = d.project_id " +
  "JOIN organizations o ON o.id = p.organization_id";
const DEPLOYMENT_COLUMNS =
  "d.*, p.name AS project_name, p.organization_id, o.slug AS organization_slug";

function toOrganization(row: Row): OrganizationRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    slug: String(row.slug),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}

function toProject(row: Row): ProjectRecord {
  return {
    id: String(row.id),
    organizationId: String(row.organization_id),
    name: String(row.name),
    description: String(row.description),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}

function toDeployment(row: Row): DeploymentRecord {
  return {
    id: String(row.id),
    projectId: String(row.project_id),
    projectName: String(row.project_name),
    organizationId: String(row.organization_id),
    status: row.status as DeploymentStatus,
    description: String(row.description),
    entryPointUrl: String(row.entry_point_url),
    envVars: parseJson<Record<string, string>>(row.env_vars) ?? {},
    databases: parseJson<Record<string, string>>(row.databases) ?? {},
    domains: parseJson<string[]>(row.domains),
    requestedDomains: parseJson<string[]>(row.requested_domains),
    importMapUrl: row.import_map_url === null ? null : String(row.import_map_url),
    lockFileUrl: row.lock_file_url === null ? null : String(row.lock_file_url),
    compilerOptions: parseJson<CompilerOptions>(row.compiler_options),
    requestTimeout: row.request_timeout === null ? null : Number(row.request_timeout),
    permissions: parseJson<DeploymentPermissions>(row.permissions),
    organizationSlug: String(row.organization_slug),
    revision: {
      labels: parseJson<Record<string, string | string[]>>(row.labels) ?? {},
      config: parseJson<Record<string, unknown>>(row.config),
      layerIds: parseJson<string[]>(row.layers),
      preview: row.preview === 1,
    },
    enableCron: row.enable_cron === 1,
    runtimeArgs: parseJson<string[]>(row.runtime_args) ?? [],
    failureReason: row.failure_reason === null ? null : row.failure_reason as FailureReason,
    failureDetail: parseJson<FailureDetail>(row.failure_detail),
    cancellationRequestedAt: nullableString(row.cancellation_requested_at),
    buildStartedAt: nullableString(row.build_started_at),
    buildFinishedAt: nullableString(row.build_finished_at),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}
