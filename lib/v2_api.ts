/**
 * The Deno Deploy v2 API behind the {@link DeployApi} interface ({@link V2Api}), on
 * {@link V2Client}: a project is an app (name = slug), a deployment is a revision (same id),
 * so the CLI's commands and words stay the same on both versions.
 *
 * What v2 cannot do is a {@link DeployTenantError} with exit code 2 naming the v2 way, never
 * silently dropped: `redeploy`, organization-wide analytics, project descriptions, KV
 * databases (`/database_instances` instead), a deployment's own variables changed in place.
 * v2's own features are reachable beside the interface: the app's variables
 * ({@link V2Api.appEnv}), layers ({@link V2Api.layers}), promotion ({@link V2Api.promote}).
 *
 * The objects returned are mapped to the v1 shapes; {@link wireObject} gives back the v2
 * object one was mapped from, for `--json`.
 *
 * @example
 * ```ts
 * const api = new V2Api({ baseUrl: "https://console.deno.com", token: "ddo_…" });
 * const project = await api.projects.get("acme-crm"); // GET /apps/acme-crm
 * await api.appEnv.set(project.id, { MIN_SCORE: "80" }); // PATCH /apps/{id} env_vars
 * ```
 *
 * @module
 */
import type {
  AnalyticsApi,
  AnalyticsRange,
  AppLogFilter,
  AppLogPage,
  AppLogQuery,
  AppLogsApi,
  AttachOptions,
  DatabasesApi,
  DeployApi,
  DeploymentsApi,
  DomainsApi,
  EnvApi,
  ProjectsApi,
} from "./api.ts";
import { ApiError, DeployTenantError, ExitCode } from "./errors.ts";
import type {
  AddDomainCertificateRequest,
  Analytics,
  AppLogEntry,
  BuildLogEntry,
  CreateDeploymentRequest,
  CreateProjectRequest,
  Deployment,
  DeploymentStatus,
  DnsRecord,
  Domain,
  KvDatabase,
  LogLevel,
  Organization,
  Project,
  RedeployRequest,
  UpdateProjectRequest,
} from "./types.ts";
import { V2Client, type V2ClientOptions } from "./v2/client.ts";
import type * as v2 from "./v2/types.ts";
import type { ApiVersion } from "./v2/urls.ts";

/** Options of {@link V2Api}: those of {@link V2Client}. */
export type V2ApiOptions = V2ClientOptions;

const wire = new WeakMap<object, unknown>();

/**
 * The v2 object `value` was mapped from (an app for a project, a revision for a deployment, a
 * v2 domain), or `value` itself when it was not mapped from one: what `--json` prints.
 */
export function wireObject(value: object): object {
  return (wire.get(value) as object | undefined) ?? value;
}

function mapped<T extends object>(value: T, from: unknown): T {
  wire.set(value, from);
  return value;
}

/** A usage error (exit 2) for something v2 does not have; `instead` names the v2 way. */
export function notInV2(what: string, instead: string): DeployTenantError {
  return new DeployTenantError("notInV2", `${what} does not exist in the Deploy v2 API.`, {
    hint: instead,
    exitCode: ExitCode.usage,
  });
}

/**
 * A revision's status as a deployment's: `queued`/`building` → `pending`, `succeeded` →
 * `success`, `failed`/`skipped` → `failed`; an unknown status counts as still `pending`.
 */
export function deploymentStatusOf(status: string): DeploymentStatus {
  if (status === "succeeded") return "success";
  if (status === "failed" || status === "skipped") return "failed";
  return "pending";
}

/** Whether a revision status is final (`succeeded`, `failed`, `skipped`). */
export function isTerminal(status: string): boolean {
  return status === "succeeded" || status === "failed" || status === "skipped";
}

/** An app as a project: name = slug, description empty. */
export function projectOf(app: v2.AppListItem): Project {
  return mapped({
    id: app.id,
    name: app.slug,
    description: "",
    createdAt: app.created_at,
    updatedAt: app.updated_at,
  }, app);
}

/**
 * The hostnames a revision serves, from its timelines: per-revision (preview) names first,
 * so `domains[0]` is the revision's own, as in v1, then production and others.
 */
export function hostnamesOf(revision: Pick<v2.Revision, "timelines">): string[] {
  const timelines = revision.timelines ?? [];
  const own = timelines.filter((timeline) => !/^production$/i.test(timeline.context));
  const rest = timelines.filter((timeline) => /^production$/i.test(timeline.context));
  return [...new Set([...own, ...rest].flatMap((timeline) => timeline.hostnames ?? []))];
}

/** The production hostnames a revision serves. */
export function productionHostnamesOf(revision: Pick<v2.Revision, "timelines">): string[] {
  return (revision.timelines ?? [])
    .filter((timeline) => /^production$/i.test(timeline.context))
    .flatMap((timeline) => timeline.hostnames ?? []);
}

/** A revision as a deployment of the app `appId`. */
export function deploymentOf(
  revision: v2.Revision | v2.RevisionListItem,
  appId: string,
): Deployment {
  const domains = "timelines" in revision ? hostnamesOf(revision) : [];
  return mapped({
    id: revision.id,
    projectId: appId,
    status: deploymentStatusOf(revision.status),
    domains,
    databases: {},
    createdAt: revision.created_at,
    updatedAt: revision.build_finished_at ?? revision.created_at,
  }, revision);
}

/**
 * Why a revision failed, in words: `failure_detail` explained (`boot_failed`: the app failed
 * to start), else `failure_reason`; `undefined` when it did not fail.
 */
export function failureOf(revision: v2.Revision): string | undefined {
  if (revision.status === "skipped") return "The revision was skipped.";
  if (revision.status !== "failed") return undefined;
  const detail = revision.failure_detail;
  if (detail) {
    const what = detail.code === "boot_failed"
      ? "the app failed to start: see `deploy-tenant logs " + revision.id + " --build`"
      : detail.code === "internal"
      ? "an internal error of the platform: deploy again"
      : `${detail.code}`;
    const message = detail.message ? ` (${detail.message})` : "";
    return `${detail.stage} failed: ${what}${message}`;
  }
  switch (revision.failure_reason) {
    case "cancelled":
      return "The build was cancelled.";
    case "timed_out":
      return "The build timed out.";
    case null:
    case undefined:
    case "error":
      return undefined; // the build log says why
    default:
      return `The build failed (${revision.failure_reason}).`;
  }
}

/** `{project.name}` → `{deno.app.slug}`, `{deployment.id}` → `{deno.revision.id}`. */
export function v2Template(pattern: string): string {
  return pattern.replaceAll("{project.name}", "{deno.app.slug}")
    .replaceAll("{deployment.id}", "{deno.revision.id}");
}

/** Options of {@link AppEnv.set} and {@link AppEnv.unset}. */
export interface EnvVarOptions {
  /** Store the values as secrets: never read back. */
  secret?: boolean;
  /** Only in these contexts (e.g. `production`, `preview`); default all. */
  contexts?: string[];
}

/**
 * Variables of an app or a layer (v2): a change reaches the running revisions without a
 * redeploy (the platform restarts their processes).
 */
export class AppEnv {
  #client: V2Client;

  /** Uses `client` for every request. */
  constructor(client: V2Client) {
    this.#client = client;
  }

  /** The app's variables; secret ones without `value`. */
  async list(app: string): Promise<v2.EnvVar[]> {
    return (await this.#client.apps.get(app)).env_vars ?? [];
  }

  /** Adds or changes variables (`PATCH /apps/{app}`, merged by key and contexts). */
  async set(
    app: string,
    vars: Record<string, string>,
    options: EnvVarOptions = {},
  ): Promise<v2.App> {
    return await this.#client.apps.update(app, { env_vars: envUpdates(vars, options) });
  }

  /** Removes variables (`delete: true`). */
  async unset(app: string, keys: string[], options: EnvVarOptions = {}): Promise<v2.App> {
    return await this.#client.apps.update(app, { env_vars: envDeletes(keys, options) });
  }
}

/** `{KEY: value}` as v2 `EnvVarUpdate`s. */
export function envUpdates(
  vars: Record<string, string>,
  options: EnvVarOptions = {},
): v2.EnvVarUpdate[] {
  return Object.entries(vars).map(([key, value]) => ({
    key,
    value,
    ...(options.secret ? { secret: true } : {}),
    ...(options.contexts?.length ? { contexts: options.contexts } : {}),
  }));
}

/** Keys as v2 `EnvVarUpdate`s that delete them. */
export function envDeletes(keys: string[], options: EnvVarOptions = {}): v2.EnvVarUpdate[] {
  return keys.map((key) => ({
    key,
    delete: true,
    ...(options.contexts?.length ? { contexts: options.contexts } : {}),
  }));
}

/** The Deno Deploy v2 API as a {@link DeployApi}, plus v2's own features. */
export class V2Api implements DeployApi {
  /** Always `v2`. */
  readonly version: ApiVersion = "v2";
  /** The wire client, for everything this adapter does not wrap. */
  readonly client: V2Client;
  /** Apps as projects. */
  readonly projects: ProjectsApi;
  /** Revisions as deployments. */
  readonly deployments: V2Deployments;
  /** Not in v2: every method is a usage error naming `/database_instances`. */
  readonly databases: DatabasesApi;
  /** A revision's own variables (read only: revisions are immutable). */
  readonly env: EnvApi;
  /** The variables of apps, which running revisions pick up without a redeploy. */
  readonly appEnv: AppEnv;
  /** Organization domains, and hostnames bound to revisions. */
  readonly domains: DomainsApi;
  /** App logs, by revision. */
  readonly appLogs: AppLogsApi;
  /** Usage of apps (v2 has no organization-wide analytics). */
  readonly analytics: AnalyticsApi;
  #org?: string;

  /** Creates the adapter; nothing is sent until the first call. */
  constructor(options: V2ApiOptions) {
    this.client = new V2Client(options);
    this.#org = options.org;
    this.projects = new V2Projects(this.client);
    this.deployments = new V2Deployments(this.client);
    this.databases = new V2NoDatabases();
    this.env = new V2RevisionEnv(this.client);
    this.appEnv = new AppEnv(this.client);
    this.domains = new V2DomainsAdapter(this.client, this.deployments);
    this.appLogs = new V2AppLogs(this.client, this.deployments);
    this.analytics = new V2Analytics(this.client);
  }

  /** v2 has no organization endpoint: the organization the token or `X-Deno-Org` names. */
  organization(): Promise<Organization> {
    const name = this.#org ?? "";
    return Promise.resolve({ id: name, name, createdAt: "", updatedAt: "" });
  }

  /** Layers of the organization (`/layers`). */
  get layers(): V2Client["layers"] {
    return this.client.layers;
  }

  /**
   * Pins the app's production timeline to a built revision (`POST /revisions/{id}/promote`)
   * and returns the revision as it is now.
   */
  async promote(revisionId: string): Promise<Deployment> {
    await this.client.revisions.promote(revisionId);
    return await this.deployments.get(revisionId);
  }

  /** Adds a layer (id or slug) to the end of an app's layers; a layer already there stays. */
  async attachLayer(app: string, layer: string): Promise<v2.App> {
    const [current, found] = await Promise.all([
      this.client.apps.get(app),
      this.client.layers.get(layer),
    ]);
    const ids = current.layers.map((ref) => ref.id);
    if (ids.includes(found.id)) return current;
    return await this.client.apps.update(current.id, { layers: [...ids, found.id] });
  }

  /** Removes a layer (id or slug) from an app's layers. */
  async detachLayer(app: string, layer: string): Promise<v2.App> {
    const current = await this.client.apps.get(app);
    const kept = current.layers.filter((ref) => ref.id !== layer && ref.slug !== layer);
    if (kept.length === current.layers.length) {
      throw new DeployTenantError(
        "layerNotAttached",
        `App ${current.slug} does not use layer "${layer}".`,
        { hint: `Its layers: ${current.layers.map((ref) => ref.slug).join(", ") || "none"}.` },
      );
    }
    return await this.client.apps.update(current.id, { layers: kept.map((ref) => ref.id) });
  }
}

class V2Projects implements ProjectsApi {
  #client: V2Client;

  constructor(client: V2Client) {
    this.#client = client;
  }

  async *list(): AsyncGenerator<Project> {
    for await (const app of this.#client.apps.list({ limit: 100 })) yield projectOf(app);
  }

  async create(request: CreateProjectRequest): Promise<Project> {
    if (request.description) {
      throw notInV2("A project description", "Apps have labels instead (`deploy --label`).");
    }
    return projectOf(await this.#client.apps.create(request.name ? { slug: request.name } : {}));
  }

  async get(idOrName: string): Promise<Project> {
    return projectOf(await this.#client.apps.get(idOrName));
  }

  async update(id: string, request: UpdateProjectRequest): Promise<Project> {
    if (request.description) {
      throw notInV2("A project description", "Apps have labels instead (`deploy --label`).");
    }
    return projectOf(
      await this.#client.apps.update(id, request.name ? { slug: request.name } : {}),
    );
  }

  async delete(id: string): Promise<void> {
    await this.#client.apps.delete(id);
  }
}

/** Revisions as deployments; they remember which app each revision belongs to. */
export class V2Deployments implements DeploymentsApi {
  #client: V2Client;
  #appOf = new Map<string, string>();

  /** Uses `client` for every request. */
  constructor(client: V2Client) {
    this.#client = client;
  }

  async *list(projectId: string): AsyncGenerator<Deployment> {
    const app = await this.#client.apps.get(projectId);
    for await (const revision of this.#client.revisions.list(app.id, { limit: 100 })) {
      this.#appOf.set(revision.id, app.id);
      yield deploymentOf(revision, app.id);
    }
  }

  /**
   * `POST /apps/{app}/deploy`. A function streams a v2 `DeployRequest` body as it is; a v1
   * request is translated (entry point → `config.runtime`, variables → `env_vars`) and its
   * fields without a v2 equivalent are refused.
   */
  async create(
    projectId: string,
    request: CreateDeploymentRequest | (() => ReadableStream<Uint8Array>),
  ): Promise<Deployment> {
    const body = typeof request === "function" ? request : deployRequestOf(request);
    const revision = await this.#client.apps.deploy(projectId, body);
    const app = await this.#client.apps.get(projectId);
    this.#appOf.set(revision.id, app.id);
    return deploymentOf(revision, app.id);
  }

  async get(id: string): Promise<Deployment> {
    const revision = await this.#client.revisions.get(id);
    return deploymentOf(revision, await this.appIdOf(revision));
  }

  async delete(id: string): Promise<void> {
    await this.#client.revisions.delete(id);
  }

  redeploy(_id: string, _request: RedeployRequest): Promise<Deployment> {
    return Promise.reject(notInV2(
      "Redeploy",
      "Change the app's variables with `deploy-tenant env set <project> KEY=VALUE` (running " +
        "revisions pick them up), deploy again, or re-pin production with " +
        "`deploy-tenant deployments promote <id>`.",
    ));
  }

  async buildLogs(id: string): Promise<BuildLogEntry[]> {
    return await Array.fromAsync(this.streamBuildLogs(id));
  }

  async *streamBuildLogs(id: string, signal?: AbortSignal): AsyncGenerator<BuildLogEntry> {
    for await (const entry of this.#client.revisions.buildLogs(id, { format: "ndjson", signal })) {
      yield mapped({ level: entry.level, message: entry.message }, entry);
    }
  }

  /**
   * The id of the app a revision belongs to: remembered, else named by the revision (`app`,
   * `app_id` when the server sends them), else read from its preview hostname
   * `{app}-{revision}.…`, else found among the apps' revisions.
   */
  async appIdOf(revision: v2.Revision): Promise<string> {
    const known = this.#appOf.get(revision.id);
    if (known) return known;
    const extra = revision as { app?: { id?: string }; app_id?: string };
    let id = extra.app?.id ?? extra.app_id;
    if (!id) {
      for (const hostname of hostnamesOf(revision)) {
        const label = hostname.split(".")[0];
        const suffix = `-${revision.id}`.toLowerCase();
        if (!label.toLowerCase().endsWith(suffix)) continue;
        id = await this.#client.apps.get(label.slice(0, -suffix.length)).then(
          (app) => app.id,
          () => undefined,
        );
        if (id) break;
      }
    }
    id ??= await this.#searchApps(revision.id);
    if (!id) {
      throw new ApiError(404, "APP_NOT_FOUND", `No app has revision ${revision.id}.`);
    }
    this.#appOf.set(revision.id, id);
    return id;
  }

  async #searchApps(revisionId: string): Promise<string | undefined> {
    for await (const app of this.#client.apps.list({ limit: 100 })) {
      for await (const revision of this.#client.revisions.list(app.id, { limit: 100 })) {
        if (revision.id === revisionId) return app.id;
      }
    }
    return undefined;
  }
}

/** A v1 create request as a v2 deploy request; v1-only fields are refused. */
export function deployRequestOf(request: CreateDeploymentRequest): v2.DeployRequest {
  refuseV1Only(request);
  const assets: Record<string, v2.Asset> = {};
  for (const [path, asset] of Object.entries(request.assets)) {
    if ("gitSha1" in asset) {
      throw notInV2(
        `The asset "${path}" sent by gitSha1`,
        "Every v2 deploy sends each file's content.",
      );
    }
    assets[path] = asset;
  }
  return {
    assets,
    config: { runtime: { type: "dynamic", entrypoint: request.entryPointUrl } },
    env_vars: Object.entries(request.envVars ?? {}).map(([key, value]) => ({ key, value })),
  };
}

/** Settings a v1 deployment has and v2 does not, each named with what to do instead. */
const V1_ONLY: [keyof CreateDeploymentRequest, string, string][] = [
  ["importMapUrl", "An import map URL", "Put `imports` in the deployed deno.json."],
  ["lockFileUrl", "A lock file URL", "The build runs `deno install`, which reads deno.lock."],
  ["compilerOptions", "Compiler options", "Put `compilerOptions` in the deployed deno.json."],
  ["requestTimeout", "A request timeout", "v2 has no per-deployment request time limit."],
  ["permissions", "Network permissions (--allow-net)", "v2 has no per-deployment permissions."],
  ["description", "A deployment description", "Label the revision instead: --label key=value."],
  [
    "databases",
    "A KV database binding (--db)",
    "v2 gives each timeline its own database; see /database_instances.",
  ],
];

/**
 * Refuses settings v2 has no equivalent for, naming the v2 way.
 *
 * @throws {DeployTenantError} `notInV2` (exit 2).
 */
export function refuseV1Only(settings: Partial<CreateDeploymentRequest>): void {
  for (const [key, what, instead] of V1_ONLY) {
    const value = settings[key];
    if (value !== undefined && value !== null) throw notInV2(what, instead);
  }
}

class V2RevisionEnv implements EnvApi {
  #client: V2Client;

  constructor(client: V2Client) {
    this.#client = client;
  }

  async list(deploymentId: string): Promise<Record<string, string>> {
    const revision = await this.#client.revisions.get(deploymentId);
    return Object.fromEntries((revision.env_vars ?? []).map(({ key, value }) => [key, value]));
  }

  set(): Promise<Deployment> {
    return Promise.reject(revisionEnvImmutable());
  }

  unset(): Promise<Deployment> {
    return Promise.reject(revisionEnvImmutable());
  }
}

function revisionEnvImmutable(): DeployTenantError {
  return notInV2(
    "Changing a revision's variables",
    "Set the app's variables instead: `deploy-tenant env set <project> KEY=VALUE` " +
      "(running revisions pick them up without a redeploy).",
  );
}

class V2NoDatabases implements DatabasesApi {
  list(): AsyncGenerator<KvDatabase> {
    return (async function* () {
      yield* [] as KvDatabase[];
      throw noDatabases();
    })();
  }

  create(): Promise<KvDatabase> {
    return Promise.reject(noDatabases());
  }

  update(): Promise<KvDatabase> {
    return Promise.reject(noDatabases());
  }

  clear(): Promise<void> {
    return Promise.reject(noDatabases());
  }

  delete(): Promise<void> {
    return Promise.reject(noDatabases());
  }
}

function noDatabases(): DeployTenantError {
  return notInV2(
    "Organization KV databases (`db`)",
    "v2 creates a database per timeline by itself; Postgres instances are under " +
      "/database_instances.",
  );
}

/** v2 `DnsRecord` → v1 `{type, name, content}`. */
function dnsRecordOf(record: v2.DnsRecord): DnsRecord {
  return { type: record.type, name: record.name, content: record.value };
}

/** A v2 domain in the v1 shape; `dnsRecordSets` holds every alternative record set. */
export function domainOf(domain: v2.Domain): Domain {
  const sets = (domain.dns_records ?? []).map((set) => set.map(dnsRecordOf));
  return mapped({
    id: domain.id,
    organizationId: domain.organization_id,
    domain: domain.domain,
    token: domain.verification_token,
    isValidated: domain.is_validated,
    certificates: (domain.certificates ?? []).map((certificate) => ({
      cipher: certificate.private_key_algorithm.startsWith("rsa") ? "rsa" as const : "ec" as const,
      expiresAt: certificate.not_valid_after,
      createdAt: certificate.created_at,
      updatedAt: certificate.created_at,
    })),
    provisioningStatus: domain.provisioning_status as Domain["provisioningStatus"],
    dnsRecords: sets[0] ?? [],
    dnsRecordSets: sets,
    createdAt: domain.created_at,
    updatedAt: domain.updated_at,
  }, domain);
}

class V2DomainsAdapter implements DomainsApi {
  #client: V2Client;
  #deployments: V2Deployments;

  constructor(client: V2Client, deployments: V2Deployments) {
    this.#client = client;
    this.#deployments = deployments;
  }

  async *list(): AsyncGenerator<Domain> {
    for await (const domain of this.#client.domains.list({ limit: 100 })) yield domainOf(domain);
  }

  async create(domain: string): Promise<Domain> {
    const wildcard = domain.startsWith("*.");
    const request: v2.CreateDomainRequest = wildcard
      ? { domain: domain.slice(2), kind: "wildcard_only" }
      : { domain };
    return domainOf(await this.#client.domains.create(request));
  }

  async get(idOrName: string): Promise<Domain> {
    return domainOf(await this.#client.domains.get(idOrName.toLowerCase().replace(/\.$/, "")));
  }

  async delete(id: string): Promise<void> {
    await this.#client.domains.delete(id);
  }

  async verify(id: string): Promise<void> {
    const domain = await this.#client.domains.verify(id);
    if (!domain.is_validated) {
      throw new ApiError(409, "domainNotVerified", `Domain ${domain.domain} is not verified yet.`);
    }
  }

  async uploadCertificate(id: string, request: AddDomainCertificateRequest): Promise<void> {
    await this.#client.domains.uploadCertificate(id, {
      certificate: request.certificateChain,
      private_key: request.privateKey,
    });
  }

  async provisionCertificates(id: string): Promise<void> {
    await this.#client.domains.provisionCertificate(id);
  }

  /**
   * Binds the name to the revision for production; v1 placeholders become v2 templates.
   * v2 has no conditional attach: `unlessNewer` and `ifHolder` are refused (exit 2) rather
   * than dropped. (A v2 deploy to production is ordered by the server itself.)
   */
  async attach(deploymentId: string, domain: string, options?: AttachOptions): Promise<string> {
    if (options?.unlessNewer || options?.ifHolder !== undefined) {
      throw notInV2(
        "Attaching a name on a condition (unlessNewer, ifHolder)",
        "Attach it unconditionally, or promote the revision (`deployments promote`).",
      );
    }
    const hostname = v2Template(domain);
    await this.#client.revisions.attachDomains(deploymentId, { production: [hostname] });
    if (!hostname.includes("{")) return hostname;
    const revision = await this.#client.revisions.get(deploymentId);
    const app = await this.#client.apps.get(await this.#deployments.appIdOf(revision));
    return hostname.replaceAll("{deno.app.slug}", app.slug)
      .replaceAll("{deno.app.id}", app.id)
      .replaceAll("{deno.revision.id}", revision.id);
  }

  async detach(deploymentId: string, domain: string): Promise<void> {
    await this.#client.revisions.detachDomain(deploymentId, v2Template(domain));
  }
}

const SEVERITY: Record<string, number> = { debug: 0, info: 1, warning: 2, warn: 2, error: 3 };

/** A v2 runtime log line as an app log entry (`warn` → `warning`). */
export function appLogEntryOf(log: v2.RuntimeLog): AppLogEntry {
  const level = (log.level === "warn" ? "warning" : log.level) as LogLevel;
  return { time: log.timestamp, level, message: log.message, region: log.region ?? "" };
}

/** How far back past logs go when no `since` is given (v2 needs a `start`). */
const LOG_RETENTION_MS = 30 * 24 * 3600_000;

class V2AppLogs implements AppLogsApi {
  #client: V2Client;
  #deployments: V2Deployments;

  constructor(client: V2Client, deployments: V2Deployments) {
    this.#client = client;
    this.#deployments = deployments;
  }

  /**
   * One page of past lines. v2 pages are oldest first; `order: "desc"` (the default) reads the
   * whole range and returns the newest `limit` lines, newest first, with no cursor.
   */
  async query(deploymentId: string, query: AppLogQuery = {}): Promise<AppLogPage> {
    const app = await this.#appOf(deploymentId);
    const end = timeParam(query.until) ?? new Date().toISOString();
    const start = timeParam(query.since) ?? new Date(Date.parse(end) - LOG_RETENTION_MS)
      .toISOString();
    const limit = Math.min(query.limit ?? 100, 1000);
    const lines = this.#client.apps.logs(app, {
      ...filterOf(query),
      start,
      end,
      revision_id: deploymentId,
      limit,
    });
    const entries: AppLogEntry[] = [];
    for await (const log of lines) {
      const entry = appLogEntryOf(log);
      if (!matches(entry, query)) continue;
      entries.push(entry);
      if (query.order === "asc" && entries.length >= limit) break;
    }
    if (query.order === "asc") return { entries };
    return { entries: entries.slice(-limit).reverse() };
  }

  async *past(deploymentId: string, query: AppLogQuery = {}): AsyncGenerator<AppLogEntry> {
    yield* (await this.query(deploymentId, { ...query, order: "asc", limit: 1000 })).entries;
  }

  async *live(
    deploymentId: string,
    filter: AppLogFilter = {},
    signal?: AbortSignal,
  ): AsyncGenerator<AppLogEntry> {
    yield* await this.subscribe(deploymentId, filter, signal);
  }

  async subscribe(
    deploymentId: string,
    filter: AppLogFilter = {},
    signal?: AbortSignal,
  ): Promise<AsyncGenerator<AppLogEntry>> {
    // v2 streams from `start` on, lines already logged included: the subscription holds from now.
    const start = new Date().toISOString();
    const app = await this.#appOf(deploymentId);
    const lines = this.#client.apps.logs(app, {
      ...filterOf(filter),
      start,
      revision_id: deploymentId,
      format: "ndjson",
      signal,
    });
    return (async function* () {
      for await (const log of lines) {
        const entry = appLogEntryOf(log);
        if (matches(entry, filter)) yield entry;
      }
    })();
  }

  async #appOf(deploymentId: string): Promise<string> {
    return await this.#deployments.appIdOf(await this.#client.revisions.get(deploymentId));
  }
}

/** v1 filters as v2 query parameters: the lowest level asked for is v2's minimum level. */
function filterOf(filter: AppLogFilter): { level?: string; query?: string } {
  const levels = filter.levels ?? [];
  const lowest = levels.toSorted((a, b) => SEVERITY[a] - SEVERITY[b])[0];
  return {
    level: lowest === undefined ? undefined : lowest === "warning" ? "warn" : lowest,
    query: filter.q || undefined,
  };
}

/** v2 filters by minimum level: keep only the levels asked for. */
function matches(entry: AppLogEntry, filter: AppLogFilter): boolean {
  if (filter.levels?.length && !filter.levels.includes(entry.level)) return false;
  return !filter.q || entry.message.includes(filter.q);
}

/** v2 analytics columns under the names v1 (and `lib/analytics.ts`) use. */
const V1_FIELD_NAMES: Record<string, string> = {
  request_count: "requestCount",
  cpu_seconds: "cpuSeconds",
  runtime_seconds: "uptimeSeconds",
  network_ingress_bytes: "networkIngressBytes",
  network_egress_bytes: "networkEgressBytes",
  kv_read_units: "kvReadCount",
  kv_write_units: "kvWriteCount",
};

/**
 * v2 analytics with the columns v1 also has renamed to v1's names (`request_count` →
 * `requestCount`, `runtime_seconds` → `uptimeSeconds`, …); other columns keep their names.
 */
export function analyticsOf(analytics: v2.Analytics): Analytics {
  return mapped({
    fields: analytics.fields.map((field) => ({
      ...field,
      name: V1_FIELD_NAMES[field.name] ?? field.name,
    })) as Analytics["fields"],
    values: analytics.values,
  }, analytics);
}

class V2Analytics implements AnalyticsApi {
  #client: V2Client;

  constructor(client: V2Client) {
    this.#client = client;
  }

  async project(projectId: string, range: AnalyticsRange = {}): Promise<Analytics> {
    const analytics = await this.#client.apps.analytics(projectId, {
      since: timeParam(range.since),
      until: timeParam(range.until),
    });
    return analyticsOf(analytics);
  }

  organization(): Promise<Analytics> {
    return Promise.reject(notInV2(
      "Organization-wide analytics",
      "Read each app's usage with `deploy-tenant analytics <project>`.",
    ));
  }
}

function timeParam(time: Date | string | undefined): string | undefined {
  return time instanceof Date ? time.toISOString() : time;
}
