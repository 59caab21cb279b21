/**
 * The deploy pipeline: directory → assets → deployment → finished build.
 *
 * pack (hash every file) → send files this API and organization already hold as hashes only
 * (the {@link UploadCache}) → stream the request body → if the server does not know a hash,
 * send everything once more with content → record the uploaded hashes → follow the build
 * log until the build ends, falling back to polling when the stream drops, bounded by a
 * timeout.
 *
 * @example
 * ```ts
 * const api = new V1Api({ baseUrl, token, organizationId });
 * const cache = await UploadCache.open(defaultCacheDir(), baseUrl, organizationId);
 * const result = await deploy({ api, project: "acme-crm", root: "./hooks", cache });
 * if (result.deployment.status === "failed") console.error(result.buildError);
 * ```
 *
 * @module
 */
import type { DeployApi, DeploymentsApi } from "./api.ts";
import { attachDomains, type RefusedDomain } from "./domains.ts";
import { ApiError, DeployTenantError, ExitCode, NetworkError } from "./errors.ts";
import { networkErrorReason } from "./http.ts";
import {
  contentBytesToSend,
  deploymentBody,
  type Pack,
  pack,
  type PackOptions,
  type UploadStats,
} from "./packer.ts";
import type {
  BuildLogEntry,
  CompilerOptions,
  CreateDeploymentRequest,
  Deployment,
  DeploymentPermissions,
  Encoding,
  Project,
} from "./types.ts";
import type { UploadCache } from "./upload_cache.ts";
import { modulesOpeningDefaultKv, unboundKvWarning } from "./kv_usage.ts";
import { V2Api } from "./v2_api.ts";
import { checkV2Settings, deployRevision } from "./v2_deploy.ts";
import { sleep } from "./time.ts";

export type { UploadStats } from "./packer.ts";

/** The deployment's settings besides its files. */
export interface DeploymentSettings {
  /** Runtime environment variables. */
  envVars?: Record<string, string>;
  /** Path of the import map among the assets. */
  importMapUrl?: string | null;
  /** Path of the lock file among the assets. */
  lockFileUrl?: string | null;
  /** JSX settings; omitted means "from the deno.json among the assets". */
  compilerOptions?: CompilerOptions | null;
  /** KV bindings, e.g. `{default: "<database uuid>"}`. */
  databases?: Record<string, string> | null;
  /** A note shown with the deployment. */
  description?: string | null;
  /** Wall-clock limit of one request in milliseconds; omitted: the platform's default. */
  requestTimeout?: number | null;
  /** Outbound network allow-list: `{net: ["api.example.com"]}`; `{net: []}` denies all. */
  permissions?: DeploymentPermissions | null;
  /** Run the deployment's `Deno.cron` jobs (v1 `enableCron`; v2 runs them unless told not to). */
  enableCron?: boolean | null;
}

/** What to deploy and where. */
export interface DeployOptions extends DeploymentSettings {
  /** The API to deploy through. */
  api: DeployApi;
  /** The project, by name or id. */
  project: string;
  /** The directory to deploy. */
  root: string;
  /** Entry point relative to `root`; detected when omitted. */
  entrypoint?: string;
  /** Gitignore-style globs of files to include. */
  include?: string[];
  /** Gitignore-style globs of files to leave out. */
  exclude?: string[];
  /** Honour `.gitignore` files (default `true`). */
  gitignore?: boolean;
  /** Hashes uploaded before to this API and organization; updated and saved on success. */
  cache?: UploadCache;
  /** Wait for the build to end (default `true`); otherwise return the pending deployment. */
  wait?: boolean;
  /** Longest wait for the build, in milliseconds (default 10 minutes). */
  timeoutMs?: number;
  /** Interval of status polls when the log stream is unavailable (default 1 s). */
  pollIntervalMs?: number;
  /** Aborts waiting (the deployment itself goes on on the server). */
  signal?: AbortSignal;
  /** Reports progress. */
  onProgress?: (event: DeployEvent) => void;
  /** How long the API may stay unreachable while the build is followed (default 60 s). */
  unreachableMs?: number;
  /**
   * Once the build succeeds, move the production name `{project.name}.<base-domain>` to the
   * new deployment, unless a deployment created after it holds the name by then (of two
   * deploys racing to production the newer one keeps it: see
   * {@link DeployResult.refusedDomains}). Needs `wait`.
   */
  production?: boolean;
  /**
   * Host names to attach once the build succeeds (moved from whichever deployment had them,
   * unless it was created after this one), e.g. `staging-{project.name}.example.com`.
   * Needs `wait`.
   */
  domains?: string[];
  /** Labels of the revision (v2 only; v1 deployments have none). */
  labels?: Record<string, string>;
  /**
   * Give the revision its own preview URL (v2; the default unless `production`). v1
   * deployments always have one.
   */
  preview?: boolean;
}

/** Progress of {@link deploy}, in the order it happens. */
export type DeployEvent =
  | { type: "packing"; files: number; bytes: number }
  | { type: "packed"; pack: Pack; reusable: number }
  /**
   * Body bytes sent so far, and of the files' content (sent with content, not by hash) how
   * many bytes of how many: `contentBytesSent` of `contentBytes` is the upload's progress.
   */
  | { type: "uploading"; bytesSent: number; contentBytesSent: number; contentBytes: number }
  | { type: "retryingWithContent"; reason: string }
  | { type: "created"; deployment: Deployment }
  | { type: "buildLog"; entry: BuildLogEntry }
  | { type: "polling"; reason: string }
  /**
   * The API stopped answering while the build is followed (a host restarting, say): waiting
   * goes on for up to `budgetMs` more. Sent once per outage.
   */
  | { type: "unreachable"; reason: string; budgetMs: number }
  /** The API answers again after an `unreachable`, `afterMs` later. */
  | { type: "reachable"; afterMs: number }
  /** v2: a build stage (`queued`, `preparing`, `installing`, `building`, `deploying`) moved. */
  | { type: "progress"; stage: string; status: string };

/** The outcome of {@link deploy}. */
export interface DeployResult {
  /** The project deployed to. */
  project: Project;
  /** The deployment: final, or `pending` when not waiting. */
  deployment: Deployment;
  /** What was packed. */
  pack: Pack;
  /** How the upload went. */
  upload: UploadStats;
  /** The build log lines seen while waiting. */
  buildLogs: BuildLogEntry[];
  /** The build's error message when the build failed. */
  buildError?: string;
  /**
   * Names asked for (`production`, `domains`) that a deployment created after this one
   * holds and keeps: the build succeeded, but this deployment does not serve them.
   */
  refusedDomains?: RefusedDomain[];
}

/** One file of a {@link DeployPlan}. */
export interface PlannedFile {
  /** Path relative to the root. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** How the content would go. */
  encoding: Encoding;
  /** Whether only the hash would be sent. */
  reused: boolean;
}

/** What a deployment would send: {@link planDeploy}'s answer. */
export interface DeployPlan {
  /** What was packed. */
  pack: Pack;
  /** The entry point. */
  entrypoint: string;
  /** The files, sorted by path. */
  files: PlannedFile[];
  /** Symlinks, sorted by path. */
  symlinks: { path: string; target: string }[];
  /** Sum of the file sizes. */
  totalBytes: number;
  /** Bytes of file content that would be sent (files not reused). */
  contentBytes: number;
}

/** Options of {@link waitForBuild}. */
export interface WaitOptions {
  /** Longest wait in milliseconds (default 10 minutes). */
  timeoutMs?: number;
  /** Interval of status polls when the log stream is unavailable (default 1 s). */
  pollIntervalMs?: number;
  /** Aborts waiting. */
  signal?: AbortSignal;
  /** Reports build log lines and the fallback to polling. */
  onProgress?: (event: DeployEvent) => void;
  /**
   * How long the API may stay unreachable (refused connections, 502–504) while a build is
   * followed, before waiting gives up with `networkError` (default 60 s).
   */
  unreachableMs?: number;
}

/** The part of a {@link DeployApi} that {@link waitForBuild} needs. */
export interface BuildStatusApi {
  /** Deployment status and build logs. */
  readonly deployments: Pick<DeploymentsApi, "get" | "buildLogs" | "streamBuildLogs">;
}

/** The default of {@link DeployOptions.timeoutMs}. */
export const DEFAULT_BUILD_TIMEOUT_MS = 10 * 60_000;
/** The default of {@link WaitOptions.unreachableMs}: longer than a host restart takes. */
export const DEFAULT_UNREACHABLE_MS = 60_000;
const DEFAULT_POLL_INTERVAL_MS = 1_000;
/** Poll intervals of silence on the build log stream before the status is checked. */
const STREAM_SILENCE_POLLS = 5;

/**
 * Deploys a directory to a project and, unless `wait` is `false`, waits for the build.
 * A failed build is not thrown: check `deployment.status` and `buildError`. Through a
 * `V2Api` the project is an app and the deployment a revision (see `v2_deploy.ts`): every file
 * is sent with its content, `cache` is not used, and `production` joins the deploy request.
 *
 * @throws {DeployTenantError} for a bad directory (see `pack`), an unknown project, API
 *   errors, and `buildTimeout` when the build outlasts `timeoutMs`.
 */
export async function deploy(options: DeployOptions): Promise<DeployResult> {
  const { api, cache } = options;
  if (api instanceof V2Api) {
    checkV2Settings(options);
    const project = await api.projects.get(options.project);
    return await deployRevision(api, project, await pack(packOptions(options)), options);
  }
  if (options.labels && Object.keys(options.labels).length > 0) {
    throw new DeployTenantError("usage", "Labels exist only in the Deploy v2 API.", {
      hint: "Leave out --label, or deploy through a v2 API (--api …/v2).",
      exitCode: ExitCode.usage,
    });
  }
  if ((options.production || options.domains?.length) && options.wait === false) {
    throw new DeployTenantError(
      "usage",
      "Domains can only be attached once the build succeeded, so deploying to production or " +
        "to a domain needs waiting for the build.",
      { hint: "Leave out --no-wait.", exitCode: ExitCode.usage },
    );
  }
  const project = await api.projects.get(options.project);
  const packed = await pack(packOptions(options));
  if (!options.databases?.default) {
    const modules = await modulesOpeningDefaultKv(packed);
    if (modules.length > 0) packed.warnings.push(unboundKvWarning(modules));
  }
  const request = deploymentRequest(packed, options);
  const fileHashes = packed.entries.flatMap((entry) =>
    entry.kind === "file" ? [entry.gitSha1] : []
  );
  options.onProgress?.({
    type: "packed",
    pack: packed,
    reusable: cache ? fileHashes.filter((sha) => cache.has(sha)).length : 0,
  });

  let upload: UploadStats = { files: 0, reusedFiles: 0, bytesSent: 0 };
  const send = (reuse: (sha: string) => boolean) =>
    api.deployments.create(project.id, () => {
      // Called again on a retry: count the attempt that gets through.
      upload = { files: 0, reusedFiles: 0, bytesSent: 0 };
      const contentBytes = contentBytesToSend(packed, reuse);
      return deploymentBody(request, packed, {
        reuse,
        stats: upload,
        onBytes: (bytesSent, contentBytesSent) =>
          options.onProgress?.({ type: "uploading", bytesSent, contentBytesSent, contentBytes }),
      });
    });

  let deployment: Deployment;
  try {
    deployment = await send((sha) => cache?.has(sha) ?? false);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 400 && error.code === "unknownGitSha1")) {
      throw error;
    }
    // The cache was wrong (the server was reset, or another one answers at this URL).
    cache?.clear();
    options.onProgress?.({ type: "retryingWithContent", reason: error.message });
    deployment = await send(() => false);
  }
  if (cache) {
    cache.add(fileHashes);
    await cache.save();
  }
  options.onProgress?.({ type: "created", deployment });

  const result: DeployResult = { project, deployment, pack: packed, upload, buildLogs: [] };
  if (options.wait === false) return result;
  const built = await waitForBuild(api, deployment.id, options);
  if (built.deployment.status !== "success" || !(options.production || options.domains?.length)) {
    return { ...result, ...built };
  }
  const attached = await attachDomains(api, project, built.deployment, {
    production: options.production,
    patterns: options.domains,
    unlessNewer: true,
  });
  return {
    ...result,
    ...built,
    deployment: attached.deployment,
    ...(attached.refused.length > 0 ? { refusedDomains: attached.refused } : {}),
  };
}

/**
 * Waits for a deployment's build to end: follows the build log, and polls the status every
 * `pollIntervalMs` when the stream is unavailable or ends early. A stream that stays silent
 * for five poll intervals is checked against the status, so one held open cannot stall it.
 *
 * An API that stops answering (refused connections, 502–504: a host restarting) is asked
 * again with backoff for up to `unreachableMs`, so waiting outlives a restart.
 *
 * @throws {DeployTenantError} `buildTimeout` after `timeoutMs`.
 * @throws {NetworkError} when the API stays unreachable for `unreachableMs`; its message says
 *   the deployment exists and how to follow its build.
 */
export async function waitForBuild(
  api: BuildStatusApi,
  deploymentId: string,
  options: WaitOptions = {},
): Promise<{ deployment: Deployment; buildLogs: BuildLogEntry[]; buildError?: string }> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const buildLogs: BuildLogEntry[] = [];
  const timedOut = () =>
    new DeployTenantError(
      "buildTimeout",
      `The build of deployment ${deploymentId} did not end within ${formatDuration(timeoutMs)}.`,
      {
        hint: `It may still end: check \`deploy-tenant deployments show ${deploymentId}\`, ` +
          "or wait longer with --timeout.",
        exitCode: ExitCode.failed,
      },
    );

  const stopped = (): never => {
    if (options.signal?.aborted) throw options.signal.reason;
    throw timedOut();
  };
  // The API may go away for a while (a host restarting): the deployment exists and its build
  // goes on, so keep asking for up to `unreachableMs`, then say how to follow it.
  const unreachableMs = options.unreachableMs ?? DEFAULT_UNREACHABLE_MS;
  const outage = {
    since: undefined as number | undefined,
    begin(error: unknown) {
      if (this.since !== undefined) return;
      this.since = Date.now();
      options.onProgress?.({
        type: "unreachable",
        reason: shortReason(error),
        budgetMs: unreachableMs,
      });
    },
    end() {
      if (this.since === undefined) return;
      options.onProgress?.({ type: "reachable", afterMs: Date.now() - this.since });
      this.since = undefined;
    },
  };
  const status = async (): Promise<Deployment> => {
    for (let attempt = 0;; attempt++) {
      try {
        const deployment = await api.deployments.get(deploymentId);
        outage.end();
        return deployment;
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (!isUnreachable(error)) throw error;
        outage.begin(error);
        const left = outage.since! + unreachableMs - Date.now();
        if (left <= 0) throw unreachable(deploymentId, unreachableMs, error);
        await sleep(Math.min(pollIntervalMs * 2 ** attempt, 5_000, left), signal).catch(stopped);
      }
    }
  };

  // A stream held open without a word (by a proxy, say) must not hide the end of the build:
  // after a silence, ask for the status, and stop following once the build is over.
  const over = new AbortController();
  let heard = Date.now();
  const silenceMs = pollIntervalMs * STREAM_SILENCE_POLLS;
  const watchdog = setInterval(() => {
    if (Date.now() - heard < silenceMs) return;
    heard = Date.now();
    api.deployments.get(deploymentId).then((deployment) => {
      if (deployment.status !== "pending") over.abort();
    }, () => {});
  }, pollIntervalMs);
  let streamed = false;
  try {
    const following = AbortSignal.any([signal, over.signal]);
    for await (const entry of api.deployments.streamBuildLogs(deploymentId, following)) {
      heard = Date.now();
      buildLogs.push(entry);
      options.onProgress?.({ type: "buildLog", entry });
    }
    streamed = true;
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (timeout.aborted) throw timedOut();
    if (!over.signal.aborted) {
      if (isUnreachable(error)) {
        outage.begin(error);
      } else {
        if (error instanceof ApiError && error.status !== 404 && error.status < 500) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        options.onProgress?.({ type: "polling", reason: `the build log stream failed: ${reason}` });
      }
    }
  } finally {
    clearInterval(watchdog);
  }

  let deployment = await status();
  if (streamed && deployment.status === "pending") {
    options.onProgress?.({ type: "polling", reason: "the build log stream ended early" });
  }
  while (deployment.status === "pending") {
    await sleep(pollIntervalMs, signal).catch(stopped);
    deployment = await status();
  }

  if (deployment.status !== "failed") return { deployment, buildLogs };
  // The stream may have dropped before the error line: the full log has it.
  const logs = buildLogs.some((entry) => entry.level === "error")
    ? buildLogs
    : await api.deployments.buildLogs(deploymentId).catch(() => buildLogs);
  return { deployment, buildLogs: logs, buildError: buildErrorOf(logs) };
}

/** Whether `error` says the API did not answer (rather than answered no). */
function isUnreachable(error: unknown): boolean {
  if (error instanceof NetworkError) return true;
  return error instanceof ApiError && [502, 503, 504].includes(error.status);
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Why the API did not answer, in a few words: `Connection refused (os error 111)`, `HTTP 503`. */
function shortReason(error: unknown): string {
  if (error instanceof ApiError) return `HTTP ${error.status}`;
  if (error instanceof NetworkError && error.cause !== undefined) {
    return networkErrorReason(error.cause);
  }
  return reasonOf(error);
}

/** Waiting gave up on an API that stayed away: the deployment exists, say how to follow it. */
function unreachable(deploymentId: string, unreachableMs: number, error: unknown): NetworkError {
  return new NetworkError(
    `The API did not answer for ${formatDuration(unreachableMs)} while the build of ` +
      `deployment ${deploymentId} was followed (${reasonOf(error)}). Deployment ` +
      `${deploymentId} was created and was still building (pending); its build may still ` +
      "finish on the server.",
    {
      hint: `Once the API answers again, follow it with \`deploy-tenant logs ${deploymentId} ` +
        `--build\` or see its status with \`deploy-tenant deployments show ${deploymentId}\`.`,
      cause: error,
    },
  );
}

/**
 * Packs a directory and reports what {@link deploy} would send, without sending anything.
 */
export async function planDeploy(
  options: Omit<DeployOptions, "api" | "project"> & { cache?: UploadCache },
): Promise<DeployPlan> {
  const packed = await pack(packOptions(options));
  const files: PlannedFile[] = [];
  const symlinks: { path: string; target: string }[] = [];
  let contentBytes = 0;
  for (const entry of packed.entries) {
    if (entry.kind === "symlink") {
      symlinks.push({ path: entry.path, target: entry.target });
      continue;
    }
    const reused = options.cache?.has(entry.gitSha1) ?? false;
    if (!reused) contentBytes += entry.size;
    files.push({ path: entry.path, size: entry.size, encoding: entry.encoding, reused });
  }
  return {
    pack: packed,
    entrypoint: packed.entrypoint,
    files,
    symlinks,
    totalBytes: packed.totalBytes,
    contentBytes,
  };
}

/**
 * Checks that `root` is a directory before anything else happens (the packer checks again),
 * so a typo fails fast, before the API is contacted.
 *
 * @throws {DeployTenantError} `rootNotFound` or `rootNotDirectory` (exit code 2).
 */
export async function checkRoot(root: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new DeployTenantError("rootNotFound", `Directory ${root} does not exist.`, {
      hint: "Pass the path of the directory to deploy.",
      exitCode: ExitCode.usage,
    });
  }
  if (!info.isDirectory) {
    throw new DeployTenantError("rootNotDirectory", `${root} is not a directory.`, {
      hint: "Pass the directory that holds the code, not a single file.",
      exitCode: ExitCode.usage,
    });
  }
}

/**
 * The message of a failed build: its error lines (the last 20: a stack trace and the
 * verdict), else its last line.
 */
export function buildErrorOf(logs: BuildLogEntry[]): string {
  const errors = logs.filter((entry) => entry.level === "error").slice(-20);
  if (errors.length > 0) return errors.map((entry) => entry.message).join("\n");
  return logs.at(-1)?.message ?? "The build failed (no build log).";
}

function packOptions(options: Omit<DeployOptions, "api" | "project">): PackOptions {
  return {
    root: options.root,
    entrypoint: options.entrypoint,
    include: options.include,
    exclude: options.exclude,
    gitignore: options.gitignore,
    onProgress: ({ files, bytes }) => options.onProgress?.({ type: "packing", files, bytes }),
  };
}

function deploymentRequest(
  packed: Pack,
  settings: DeploymentSettings,
): Omit<CreateDeploymentRequest, "assets"> {
  const request: Omit<CreateDeploymentRequest, "assets"> = {
    entryPointUrl: packed.entrypoint,
    envVars: settings.envVars ?? {},
  };
  if (settings.importMapUrl != null) request.importMapUrl = settings.importMapUrl;
  if (settings.lockFileUrl != null) request.lockFileUrl = settings.lockFileUrl;
  if (settings.compilerOptions != null) request.compilerOptions = settings.compilerOptions;
  if (settings.databases != null) request.databases = settings.databases;
  if (settings.description != null) request.description = settings.description;
  if (settings.requestTimeout != null) request.requestTimeout = settings.requestTimeout;
  if (settings.permissions != null) request.permissions = settings.permissions;
  if (settings.enableCron) request.enableCron = true;
  return request;
}

function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 100) / 10} s`;
}
