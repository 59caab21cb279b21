/**
 * The Deploy API behind a small interface ({@link DeployApi}), with the Subhosting v1
 * adapter ({@link V1Api}). A v2 adapter (apps and revisions) can implement the same
 * interface without touching the CLI.
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
import { HttpClient, type HttpClientOptions, ndjson, type Query } from "./http.ts";
import type {
  BuildLogEntry,
  CreateDeploymentRequest,
  CreateKvDatabaseRequest,
  CreateProjectRequest,
  Deployment,
  KvDatabase,
  ListOptions,
  Organization,
  Project,
  RedeployRequest,
  UpdateKvDatabaseRequest,
  UpdateProjectRequest,
} from "./types.ts";

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

/** A Deploy API, whichever version is behind it. */
export interface DeployApi {
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
}

/** Options of {@link V1Api}: the transport's plus the organization. */
export interface V1ApiOptions extends HttpClientOptions {
  /** The organization UUID (`--org`, `DEPLOY_ORG_ID`). */
  organizationId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The Subhosting v1 API (`/v1`), as served by Deno Deploy and by the local host. */
export class V1Api implements DeployApi {
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

  /** Creates the adapter; nothing is sent until the first call. */
  constructor(options: V1ApiOptions) {
    const { organizationId, ...httpOptions } = options;
    this.http = new HttpClient(httpOptions);
    this.organizationId = organizationId;
    this.projects = new V1Projects(this.http, () => this.#organizationPath());
    this.deployments = new V1Deployments(this.http);
    this.databases = new V1Databases(this.http, () => this.#organizationPath());
    this.env = new V1Env(this.http, this.deployments);
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
    return await this.#http.json("PATCH", `/projects/${segment(id)}`, { json: request });
  }

  async delete(id: string): Promise<void> {
    await this.#http.json("DELETE", `/projects/${segment(id)}`);
  }
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
    // No time limit: the stream stays open for as long as the build runs. Only the request
    // itself is retried; once lines flow, a broken stream ends in an error.
    const response = await this.#http.request("GET", `/deployments/${segment(id)}/build_logs`, {
      accept: "application/x-ndjson",
      timeoutMs: 0,
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
