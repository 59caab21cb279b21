/**
 * The Deploy API behind a small interface ({@link DeployApi}), with the Subhosting v1
 * adapter ({@link V1Api}). The v2 adapter (apps and revisions) is `V2Api` in `v2_api.ts`.
 *
 * @example
 * ```ts
 * const api = new V1Api({ baseUrl: "http://127.0.0.1:8000/v1", token, organizationId });
 * const project = await api.projects.get("acme-crm");
 * for await (const deployment of api.deployments.list(project.id)) console.log(deployment.id);
 * ```
 *
 * @module
 */
import { ApiError, DeployTenantError, ExitCode } from "./errors.ts";
import { HttpClient, type HttpClientOptions, ndjson, parseLinkHeader, type Query } from "./http.ts";
import { PROJECT_NAME_RULE, projectNameProblem } from "./project_name.ts";
import type {
  AddDomainCertificateRequest,
  Analytics,
  AppLogEntry,
  BuildLogEntry,
  CreateDeploymentRequest,
  CreateKvDatabaseRequest,
  CreateProjectRequest,
  Deployment,
  Domain,
  KvDatabase,
  ListOptions,
  LogLevel,
  Organization,
  Project,
  RedeployRequest,
  UpdateKvDatabaseRequest,
  UpdateProjectRequest,
} from "./types.ts";
import type { ApiVersion } from "./v2/urls.ts";

/** Projects of the organization the client is bound to. */
export interface ProjectsApi {
  /** All projects, fetching page after page. */
  list(options?: ListOptions): AsyncGenerator<Project>;
  /** Creates a project; a missing name gets a random one. */
  create(request: CreateProjectRequest): Promise<Project>;
  /** A project by UUID or by exact name; a missing one is an `ApiError` 404 `projectNotFound`. */
  get(idOrName: string): Promise<Project>;
  /** Renames or re-describes a project. */
  update(id: string, request: UpdateProjectRequest): Promise<Project>;
  /** Deletes a project and its deployments. */
  delete(id: string): Promise<void>;
}

/** Deployments: immutable builds of a project's code. */
export interface DeploymentsApi {
  /** All deployments of a project, fetching page after page. */
  list(projectId: string, options?: ListOptions): AsyncGenerator<Deployment>;
  /**
   * Creates a deployment (status `pending`). A function streams the JSON body instead of
   * building it in memory; it is called again if the request is retried.
   */
  create(
    projectId: string,
    request: CreateDeploymentRequest | (() => ReadableStream<Uint8Array>),
  ): Promise<Deployment>;
  /** A deployment by id. */
  get(id: string): Promise<Deployment>;
  /** Deletes a deployment. */
  delete(id: string): Promise<void>;
  /** Creates a new deployment from an existing one with changed configuration. */
  redeploy(id: string, request: RedeployRequest): Promise<Deployment>;
  /** The build log as one array. */
  buildLogs(id: string): Promise<BuildLogEntry[]>;
  /** The build log as it is written, ending when the build ends. */
  streamBuildLogs(id: string, signal?: AbortSignal): AsyncGenerator<BuildLogEntry>;
}

/** KV databases of the organization the client is bound to. */
export interface DatabasesApi {
  /** All databases, oldest first, fetching page after page. */
  list(options?: ListOptions): AsyncGenerator<KvDatabase>;
  /** Creates a database. Bind it with `databases: {default: id}` when deploying. */
  create(request?: CreateKvDatabaseRequest): Promise<KvDatabase>;
  /** Re-describes a database. */
  update(id: string, request: UpdateKvDatabaseRequest): Promise<KvDatabase>;
  /** Empties a database (a local host extension): bound deployments restart with it empty. */
  clear(id: string): Promise<void>;
  /** Deletes a database no deployment is bound to (a local host extension). */
  delete(id: string): Promise<void>;
}

/**
 * A deployment's environment variables. Deployments are immutable, so `set` and `unset`
 * redeploy: they return the new deployment (`pending`), which has the merged variables,
 * while the old one keeps its own.
 */
export interface EnvApi {
  /**
   * The deployment's variables, values included.
   *
   * This reads `GET /deployments/{id}/env_vars`, an extension of the deploy-tenant local
   * host: Deno Deploy's API has no way to read them back. Against an API without it, this
   * throws a {@link DeployTenantError} with code `envVarsUnreadable`.
   */
  list(deploymentId: string): Promise<Record<string, string>>;
  /** Redeploys with these variables added or changed. */
  set(deploymentId: string, vars: Record<string, string>): Promise<Deployment>;
  /** Redeploys without these variables. */
  unset(deploymentId: string, keys: string[]): Promise<Deployment>;
}

/**
 * Custom domains of the organization, and the host names deployments answer on.
 * A domain is registered, verified (its DNS records point at the platform), given a TLS
 * certificate, then attached to a deployment.
 */
export interface DomainsApi {
  /** All the organization's domains, fetching page after page. */
  list(options?: ListOptions): AsyncGenerator<Domain>;
  /** Registers a domain, e.g. `shop.example.com` or `*.example.net`; see its `dnsRecords`. */
  create(domain: string): Promise<Domain>;
  /** A domain by UUID or by exact name; a missing one is an `ApiError` 404 `domainNotFound`. */
  get(idOrName: string): Promise<Domain>;
  /** Removes a domain; the names it covered are detached from deployments. */
  delete(id: string): Promise<void>;
  /** Checks the domain's DNS records; an `ApiError` says what is missing. */
  verify(id: string): Promise<void>;
  /** Uploads a PEM certificate chain (leaf first) and its private key. */
  uploadCertificate(id: string, request: AddDomainCertificateRequest): Promise<void>;
  /** Has the platform issue certificates for the domain. */
  provisionCertificates(id: string): Promise<void>;
  /**
   * Attaches a host name to a deployment, moving it from the deployment that had it.
   * Placeholders `{project.name}` and `{deployment.id}` are filled in; returns the name.
   * `options` make the move conditional (see {@link AttachOptions}); a refused move is an
   * `ApiError` 409 and leaves the name where it was.
   */
  attach(deploymentId: string, domain: string, options?: AttachOptions): Promise<string>;
  /** Detaches a host name (placeholders allowed) from a deployment. */
  detach(deploymentId: string, domain: string): Promise<void>;
}

/**
 * Conditions on moving a host name ({@link DomainsApi.attach}), checked by the server in the
 * same step as the move, so two callers racing for one name cannot both win. v1 only: the v2
 * API has no conditional attach, and `V2Api` refuses them rather than move unconditionally.
 */
export interface AttachOptions {
  /**
   * Leave the name with a holder created after this deployment: 409
   * `newerDeploymentHoldsDomain` (`deploy --prod` racing another deploy).
   */
  unlessNewer?: boolean;
  /**
   * Move the name only from this deployment (or, with `"none"`, only when no deployment
   * serves it): 409 `domainHolderChanged` otherwise (a change merged onto production,
   * while production moved).
   */
  ifHolder?: string;
}

/** Which app log lines to return. Times are `Date`s or RFC 3339 strings. */
export interface AppLogFilter {
  /** Only lines containing this text. */
  q?: string;
  /** Only lines of these levels. */
  levels?: LogLevel[];
}

/** A past-logs query: lines from `since` (default: all retained) until `until` (default now). */
export interface AppLogQuery extends AppLogFilter {
  since?: Date | string;
  until?: Date | string;
  /** Lines per page, 1 to 10 000; default 100. */
  limit?: number;
  /** `desc` (newest first, the default) or `asc`. */
  order?: "asc" | "desc";
  /** Where the previous page ended. */
  cursor?: string;
}

/** One page of past logs and the cursor of the next, if more lines match. */
export interface AppLogPage {
  entries: AppLogEntry[];
  cursor?: string;
}

/** What deployments' code logged (`console.*`, uncaught errors) and the platform's events. */
export interface AppLogsApi {
  /** One page of past lines. */
  query(deploymentId: string, query?: AppLogQuery): Promise<AppLogPage>;
  /** Past lines, page after page (`limit` lines per page) until none is left. */
  past(deploymentId: string, query?: AppLogQuery): AsyncGenerator<AppLogEntry>;
  /** Lines as they are logged from now on, until `signal` aborts. */
  live(
    deploymentId: string,
    filter?: AppLogFilter,
    signal?: AbortSignal,
  ): AsyncGenerator<AppLogEntry>;
  /**
   * Lines as they are logged from now on, like {@link live}, once the API holds the
   * subscription: every line logged after this resolves is in the stream, so past lines read
   * then leave no gap.
   */
  subscribe(
    deploymentId: string,
    filter?: AppLogFilter,
    signal?: AbortSignal,
  ): Promise<AsyncGenerator<AppLogEntry>>;
}

/** A time range of analytics; default: the last 24 hours. */
export interface AnalyticsRange {
  since?: Date | string;
  until?: Date | string;
}

/** Usage in 15-minute buckets, as `{fields, values}`. */
export interface AnalyticsApi {
  /** One project's usage. */
  project(projectId: string, range?: AnalyticsRange): Promise<Analytics>;
  /** The organization's totals per bucket; the range is at most 24 hours. */
  organization(range?: AnalyticsRange): Promise<Analytics>;
}

/** A Deploy API, whichever version is behind it. */
export interface DeployApi {
  /** Which version it speaks; absent means v1. */
  readonly version?: ApiVersion;
  /** The organization the client is bound to. */
  organization(): Promise<Organization>;
  /** Projects of that organization. */
  readonly projects: ProjectsApi;
  /** Deployments of its projects. */
  readonly deployments: DeploymentsApi;
  /** KV databases of that organization. */
  readonly databases: DatabasesApi;
  /** Environment variables of deployments. */
  readonly env: EnvApi;
  /** Custom domains and the host names of deployments. */
  readonly domains: DomainsApi;
  /** App logs of deployments. */
  readonly appLogs: AppLogsApi;
  /** Usage of projects and of the organization. */
  readonly analytics: AnalyticsApi;
}

/** Options of {@link V1Api}: the transport's plus the organization. */
export interface V1ApiOptions extends HttpClientOptions {
  /** The organization UUID (`--org`, `DEPLOY_ORG_ID`). */
  organizationId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The Subhosting v1 API (`/v1`), as served by Deno Deploy and by the local host. */
export class V1Api implements DeployApi {
  /** Always `v1`. */
  readonly version: ApiVersion = "v1";
  /** The transport, for requests this adapter does not wrap. */
  readonly http: HttpClient;
  /** The organization UUID every organization-scoped path uses. */
  readonly organizationId: string;
  /** Projects of the organization. */
  readonly projects: ProjectsApi;
  /** Deployments of its projects. */
  readonly deployments: DeploymentsApi;
  /** KV databases of the organization. */
  readonly databases: DatabasesApi;
  /** Environment variables of deployments (set and unset redeploy). */
  readonly env: EnvApi;
  /** Custom domains and the host names of deployments. */
  readonly domains: DomainsApi;
  /** App logs of deployments. */
  readonly appLogs: AppLogsApi;
  /** Usage of projects and of the organization. */
  readonly analytics: AnalyticsApi;

  /** Creates the adapter; nothing is sent until the first call. */
  constructor(options: V1ApiOptions) {
    const { organizationId, ...httpOptions } = options;
    this.http = new HttpClient(httpOptions);
    this.organizationId = organizationId;
    this.projects = new V1Projects(this.http, () => this.#organizationPath());
    this.deployments = new V1Deployments(this.http);
    this.databases = new V1Databases(this.http, () => this.#organizationPath());
    this.env = new V1Env(this.http, this.deployments);
    this.domains = new V1Domains(this.http, () => this.#organizationPath());
    this.appLogs = new V1AppLogs(this.http);
    this.analytics = new V1Analytics(this.http, () => this.#organizationPath());
  }

  /** `GET /organizations/{org}`. */
  async organization(): Promise<Organization> {
    return await this.http.json("GET", this.#organizationPath());
  }

  #organizationPath(): string {
    if (!this.organizationId) {
      throw new DeployTenantError("organizationMissing", "No organization id was given.", {
        hint: "Pass --org or set DEPLOY_ORG_ID.",
        exitCode: ExitCode.usage,
      });
    }
    return `/organizations/${segment(this.organizationId)}`;
  }
}

class V1Projects implements ProjectsApi {
  #http: HttpClient;
  #organizationPath: () => string;

  constructor(http: HttpClient, organizationPath: () => string) {
    this.#http = http;
    this.#organizationPath = organizationPath;
  }

  async *list(options?: ListOptions): AsyncGenerator<Project> {
    yield* this.#http.paginate<Project>(`${this.#organizationPath()}/projects`, listQuery(options));
  }

  async create(request: CreateProjectRequest): Promise<Project> {
    if (request.name != null) checkProjectName(request.name);
    return await this.#http.json("POST", `${this.#organizationPath()}/projects`, { json: request });
  }

  async get(idOrName: string): Promise<Project> {
    if (UUID.test(idOrName)) return await this.#http.json("GET", `/projects/${segment(idOrName)}`);
    // `q` matches names loosely, so several projects may come back: pick the exact name.
    for await (const project of this.list({ q: idOrName, limit: 100 })) {
      if (project.name === idOrName) return project;
    }
    throw new ApiError(404, "projectNotFound", `Project "${idOrName}" was not found.`, {
      hint: "Check the name against the organization's project list, or create the project first.",
    });
  }

  async update(id: string, request: UpdateProjectRequest): Promise<Project> {
    if (request.name != null) checkProjectName(request.name);
    return await this.#http.json("PATCH", `/projects/${segment(id)}`, { json: request });
  }

  async delete(id: string): Promise<void> {
    await this.#http.json("DELETE", `/projects/${segment(id)}`);
  }
}

/**
 * A name the API would refuse is refused before the request, with the API's code
 * (`invalidProjectName`) but as a usage error (exit 2): the rule is the same on both sides.
 */
function checkProjectName(name: string): void {
  const problem = projectNameProblem(name);
  if (problem === undefined) return;
  throw new DeployTenantError("invalidProjectName", `Invalid project name "${name}": ${problem}`, {
    hint: `${PROJECT_NAME_RULE}.`,
    exitCode: ExitCode.usage,
  });
}

class V1Deployments implements DeploymentsApi {
  #http: HttpClient;

  constructor(http: HttpClient) {
    this.#http = http;
  }

  async *list(projectId: string, options?: ListOptions): AsyncGenerator<Deployment> {
    const path = `/projects/${segment(projectId)}/deployments`;
    yield* this.#http.paginate<Deployment>(path, listQuery(options));
  }

  async create(
    projectId: string,
    request: CreateDeploymentRequest | (() => ReadableStream<Uint8Array>),
  ): Promise<Deployment> {
    const path = `/projects/${segment(projectId)}/deployments`;
    if (typeof request === "function") {
      return await this.#http.json("POST", path, {
        body: request,
        headers: { "content-type": "application/json" },
      });
    }
    return await this.#http.json("POST", path, { json: request });
  }

  async get(id: string): Promise<Deployment> {
    return await this.#http.json("GET", `/deployments/${segment(id)}`);
  }

  async delete(id: string): Promise<void> {
    await this.#http.json("DELETE", `/deployments/${segment(id)}`);
  }

  async redeploy(id: string, request: RedeployRequest): Promise<Deployment> {
    return await this.#http.json("POST", `/deployments/${segment(id)}/redeploy`, { json: request });
  }

  async buildLogs(id: string): Promise<BuildLogEntry[]> {
    return await this.#http.json<BuildLogEntry[]>(
      "GET",
      `/deployments/${segment(id)}/build_logs`,
    ) ??
      [];
  }

  async *streamBuildLogs(id: string, signal?: AbortSignal): AsyncGenerator<BuildLogEntry> {
    // The time limit covers the response head only: the stream stays open for as long as the
    // build runs. Only the request itself is retried; once lines flow, a broken stream ends in
    // an error.
    const response = await this.#http.request("GET", `/deployments/${segment(id)}/build_logs`, {
      accept: "application/x-ndjson",
      stream: true,
      signal,
    });
    if (!response.body) return;
    if (isJsonArray(response)) {
      // A server that ignores Accept answers with the whole array.
      yield* (await response.json()) as BuildLogEntry[];
      return;
    }
    yield* ndjson<BuildLogEntry>(response.body);
  }
}

class V1Databases implements DatabasesApi {
  #http: HttpClient;
  #organizationPath: () => string;

  constructor(http: HttpClient, organizationPath: () => string) {
    this.#http = http;
    this.#organizationPath = organizationPath;
  }

  async *list(options?: ListOptions): AsyncGenerator<KvDatabase> {
    const path = `${this.#organizationPath()}/databases`;
    yield* this.#http.paginate<KvDatabase>(path, listQuery(options));
  }

  async create(request: CreateKvDatabaseRequest = {}): Promise<KvDatabase> {
    return await this.#http.json("POST", `${this.#organizationPath()}/databases`, {
      json: request,
    });
  }

  async update(id: string, request: UpdateKvDatabaseRequest): Promise<KvDatabase> {
    return await this.#http.json("PATCH", `/databases/${segment(id)}`, { json: request });
  }

  async clear(id: string): Promise<void> {
    await this.#http.json("POST", `/databases/${segment(id)}/clear`);
  }

  async delete(id: string): Promise<void> {
    await this.#http.json("DELETE", `/databases/${segment(id)}`);
  }
}

class V1Env implements EnvApi {
  #http: HttpClient;
  #deployments: DeploymentsApi;

  constructor(http: HttpClient, deployments: DeploymentsApi) {
    this.#http = http;
    this.#deployments = deployments;
  }

  async list(deploymentId: string): Promise<Record<string, string>> {
    try {
      const body = await this.#http.json<{ envVars: Record<string, string> }>(
        "GET",
        `/deployments/${segment(deploymentId)}/env_vars`,
      );
      return body.envVars;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      // A missing deployment is reported as such; otherwise the endpoint itself is missing.
      await this.#deployments.get(deploymentId);
      throw new DeployTenantError(
        "envVarsUnreadable",
        "This API cannot show a deployment's environment variables: " +
          "GET /deployments/{id}/env_vars is an extension of the deploy-tenant local host.",
        {
          hint: "Deno Deploy never returns env var values; keep them in your own .env " +
            "files and apply them with `env set` or `env load`.",
          exitCode: ExitCode.failed,
        },
      );
    }
  }

  async set(deploymentId: string, vars: Record<string, string>): Promise<Deployment> {
    return await this.#deployments.redeploy(deploymentId, { envVars: vars });
  }

  async unset(deploymentId: string, keys: string[]): Promise<Deployment> {
    const envVars = Object.fromEntries(keys.map((key) => [key, null]));
    return await this.#deployments.redeploy(deploymentId, { envVars });
  }
}

class V1Domains implements DomainsApi {
  #http: HttpClient;
  #organizationPath: () => string;

  constructor(http: HttpClient, organizationPath: () => string) {
    this.#http = http;
    this.#organizationPath = organizationPath;
  }

  async *list(options?: ListOptions): AsyncGenerator<Domain> {
    yield* this.#http.paginate<Domain>(`${this.#organizationPath()}/domains`, listQuery(options));
  }

  async create(domain: string): Promise<Domain> {
    return await this.#http.json("POST", `${this.#organizationPath()}/domains`, {
      json: { domain },
    });
  }

  async get(idOrName: string): Promise<Domain> {
    if (UUID.test(idOrName)) return await this.#http.json("GET", `/domains/${segment(idOrName)}`);
    // `q` matches names loosely: pick the exact one.
    const name = idOrName.toLowerCase().replace(/\.$/, "");
    for await (const domain of this.list({ q: name, limit: 100 })) {
      if (domain.domain === name) return domain;
    }
    throw new ApiError(404, "domainNotFound", `Domain "${idOrName}" was not found.`, {
      hint: "Check the organization's domains, or register it first.",
    });
  }

  async delete(id: string): Promise<void> {
    await this.#http.json("DELETE", `/domains/${segment(id)}`);
  }

  async verify(id: string): Promise<void> {
    await this.#http.json("POST", `/domains/${segment(id)}/verify`);
  }

  async uploadCertificate(id: string, request: AddDomainCertificateRequest): Promise<void> {
    await this.#http.json("POST", `/domains/${segment(id)}/certificates`, { json: request });
  }

  async provisionCertificates(id: string): Promise<void> {
    await this.#http.json("POST", `/domains/${segment(id)}/certificates/provision`);
  }

  async attach(deploymentId: string, domain: string, options?: AttachOptions): Promise<string> {
    const path = `/deployments/${segment(deploymentId)}/domains/${segment(domain)}`;
    const answer = await this.#http.json<{ domain: string } | undefined>("PUT", path, {
      query: {
        unlessNewer: options?.unlessNewer ? "true" : undefined,
        ifHolder: options?.ifHolder,
      },
    });
    return answer?.domain ?? domain;
  }

  async detach(deploymentId: string, domain: string): Promise<void> {
    await this.#http.json(
      "DELETE",
      `/deployments/${segment(deploymentId)}/domains/${segment(domain)}`,
    );
  }
}

class V1AppLogs implements AppLogsApi {
  #http: HttpClient;

  constructor(http: HttpClient) {
    this.#http = http;
  }

  async query(deploymentId: string, query: AppLogQuery = {}): Promise<AppLogPage> {
    // Past mode needs `since` or `until`: with neither, ask for everything until now.
    const until = query.until ?? (query.since === undefined ? new Date() : undefined);
    const response = await this.#http.request(
      "GET",
      `/deployments/${segment(deploymentId)}/app_logs`,
      {
        query: {
          ...filterQuery(query),
          since: timeParam(query.since),
          until: timeParam(until),
          limit: query.limit,
          order: query.order,
          cursor: query.cursor,
        },
      },
    );
    const entries = (await response.json()) as AppLogEntry[];
    const next = parseLinkHeader(response.headers.get("link")).next;
    const cursor = next ? new URL(next, response.url).searchParams.get("cursor") : null;
    return { entries, cursor: cursor ?? undefined };
  }

  async *past(deploymentId: string, query: AppLogQuery = {}): AsyncGenerator<AppLogEntry> {
    // Pin the end of the range, so lines logged meanwhile do not shift the pages.
    const pinned = { ...query, until: query.until ?? new Date() };
    let cursor = query.cursor;
    do {
      const page = await this.query(deploymentId, { ...pinned, cursor });
      yield* page.entries;
      cursor = page.entries.length > 0 ? page.cursor : undefined;
    } while (cursor !== undefined);
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
    // The API subscribes before it answers: the response's head means "subscribed".
    const response = await this.#http.request(
      "GET",
      `/deployments/${segment(deploymentId)}/app_logs`,
      { query: filterQuery(filter), accept: "application/x-ndjson", stream: true, signal },
    );
    return ndjson<AppLogEntry>(response.body ?? ReadableStream.from([]));
  }
}

class V1Analytics implements AnalyticsApi {
  #http: HttpClient;
  #organizationPath: () => string;

  constructor(http: HttpClient, organizationPath: () => string) {
    this.#http = http;
    this.#organizationPath = organizationPath;
  }

  async project(projectId: string, range: AnalyticsRange = {}): Promise<Analytics> {
    return await this.#http.json("GET", `/projects/${segment(projectId)}/analytics`, {
      query: rangeQuery(range),
    });
  }

  async organization(range: AnalyticsRange = {}): Promise<Analytics> {
    return await this.#http.json("GET", `${this.#organizationPath()}/analytics`, {
      query: rangeQuery(range),
    });
  }
}

function filterQuery(filter: AppLogFilter): Query {
  return { q: filter.q || undefined, level: filter.levels?.join(",") || undefined };
}

function rangeQuery(range: AnalyticsRange): Query {
  return { since: timeParam(range.since), until: timeParam(range.until) };
}

function timeParam(time: Date | string | undefined): string | undefined {
  return time instanceof Date ? time.toISOString() : time;
}

function isJsonArray(response: Response): boolean {
  return /^application\/json\b/i.test(response.headers.get("content-type") ?? "");
}

function listQuery(options: ListOptions = {}): Query {
  const { page, limit, q, sort, order } = options;
  return { page, limit, q, sort, order };
}

/** Encodes one path segment, so an id can never change the path. */
function segment(value: string): string {
  // URLs resolve "." and ".." (even when percent-encoded), so they would climb the path.
  if (value === "" || value === "." || value === "..") {
    throw new DeployTenantError("invalidId", `"${value}" is not a valid id.`, {
      exitCode: ExitCode.usage,
    });
  }
  return encodeURIComponent(value);
}
