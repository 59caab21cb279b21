/**
 * The deploy pipeline's v2 half: a packed directory → `POST /apps/{app}/deploy` → the
 * revision's `progress` stream to its end → the final revision. `deploy()` in `deploy.ts`
 * packs and calls {@link deployRevision} when its API is a {@link V2Api}.
 *
 * v2 has no `gitSha1` assets, so every file is sent with its content and the upload cache is
 * neither read nor written. The revision joins production when `production` is set, and gets
 * its own preview URL unless it is production only. A dropped or silent progress stream falls
 * back to polling `GET /revisions/{id}`, bounded by the timeout. A failed revision's build log
 * (`build_logs`) and `failure_detail` make up `buildError`.
 *
 * @module
 */
import type { DeployOptions, DeployResult } from "./deploy.ts";
import { DeployTenantError, ExitCode } from "./errors.ts";
import { contentBytesToSend, deploymentBody, type Pack, type UploadStats } from "./packer.ts";
import type { BuildLogEntry, Project } from "./types.ts";
import type { DeployRequest, Revision, RevisionProgress } from "./v2/types.ts";
import {
  deploymentOf,
  failureOf,
  isTerminal,
  refuseV1Only,
  type V2Api,
  v2Template,
} from "./v2_api.ts";
import { sleep } from "./time.ts";

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_POLL_INTERVAL_MS = 1_000;
/** Poll intervals of silence on the progress stream before the status is checked. */
const SILENCE_POLLS = 5;

/**
 * Checks the settings of `options` against what v2 has, before anything is packed or sent.
 *
 * @throws {DeployTenantError} `notInV2` (exit 2) for a setting v2 lacks, naming the v2 way.
 */
export function checkV2Settings(options: DeployOptions): void {
  refuseV1Only(options);
  if (options.domains?.length && options.wait === false) {
    throw new DeployTenantError(
      "usage",
      "Domains are attached once the build succeeded, so --domain needs waiting for the build.",
      { hint: "Leave out --no-wait.", exitCode: ExitCode.usage },
    );
  }
  for (const [key, value] of Object.entries(options.labels ?? {})) {
    if (key === "" || typeof value !== "string") {
      throw new DeployTenantError("usage", `Invalid label "${key}"`, {
        hint: "Use --label key=value.",
        exitCode: ExitCode.usage,
      });
    }
  }
}

/** The fields of the v2 deploy request besides `assets`. */
export function deployRequestHead(
  packed: Pick<Pack, "entrypoint">,
  options: Pick<DeployOptions, "envVars" | "labels" | "production" | "preview">,
): Omit<DeployRequest, "assets"> {
  const head: Omit<DeployRequest, "assets"> = {
    config: { runtime: { type: "dynamic", entrypoint: packed.entrypoint } },
    env_vars: Object.entries(options.envVars ?? {}).map(([key, value]) => ({ key, value })),
    production: options.production === true,
    preview: options.preview === true || options.production !== true,
  };
  if (options.labels && Object.keys(options.labels).length > 0) head.labels = options.labels;
  return head;
}

/**
 * Deploys a packed directory as a new revision of `project` (an app) and, unless `wait` is
 * `false`, waits for it to end. A failed revision is not thrown: check `deployment.status`
 * and `buildError`.
 *
 * @throws {DeployTenantError} `buildTimeout` when the build outlasts `timeoutMs`; API errors.
 */
export async function deployRevision(
  api: V2Api,
  project: Project,
  packed: Pack,
  options: DeployOptions,
): Promise<DeployResult> {
  options.onProgress?.({ type: "packed", pack: packed, reusable: 0 });
  const head = deployRequestHead(packed, options);
  let upload: UploadStats = { files: 0, reusedFiles: 0, bytesSent: 0 };
  const created = await api.client.apps.deploy(project.id, () => {
    // Called again on a retry: count the attempt that gets through.
    upload = { files: 0, reusedFiles: 0, bytesSent: 0 };
    const contentBytes = contentBytesToSend(packed, () => false);
    return deploymentBody(head, packed, {
      reuse: () => false,
      stats: upload,
      onBytes: (bytesSent, contentBytesSent) =>
        options.onProgress?.({ type: "uploading", bytesSent, contentBytesSent, contentBytes }),
    });
  });
  const deployment = deploymentOf(created, project.id);
  options.onProgress?.({ type: "created", deployment });
  const result: DeployResult = { project, deployment, pack: packed, upload, buildLogs: [] };
  if (options.wait === false) return result;

  let revision = await waitForRevision(api, created.id, options);
  if (revision.status === "succeeded" && options.domains?.length) {
    const hostnames = options.domains.map(v2Template);
    await api.client.revisions.attachDomains(
      revision.id,
      options.production ? { production: hostnames } : { preview: hostnames },
    );
    revision = await api.client.revisions.get(revision.id);
  }
  const final = deploymentOf(revision, project.id);
  if (final.status !== "failed") return { ...result, deployment: final };
  const buildLogs = await api.deployments.buildLogs(revision.id).catch(() => []);
  return {
    ...result,
    deployment: final,
    buildLogs,
    buildError: revisionError(revision, buildLogs),
  };
}

/**
 * Follows a revision's progress until it ends, then reads it; polls when the stream drops,
 * ends early or stays silent.
 *
 * @throws {DeployTenantError} `buildTimeout` after `timeoutMs`.
 */
export async function waitForRevision(
  api: V2Api,
  id: string,
  options: Pick<DeployOptions, "timeoutMs" | "pollIntervalMs" | "signal" | "onProgress"> = {},
): Promise<Revision> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const timedOut = () =>
    new DeployTenantError(
      "buildTimeout",
      `The build of revision ${id} did not end within ${Math.round(timeoutMs / 1000)} s.`,
      {
        hint: `It may still end: check \`deploy-tenant deployments show ${id}\`, ` +
          "or wait longer with --timeout.",
        exitCode: ExitCode.failed,
      },
    );

  const over = new AbortController();
  let heard = Date.now();
  const watchdog = setInterval(() => {
    if (Date.now() - heard < pollIntervalMs * SILENCE_POLLS) return;
    heard = Date.now();
    api.client.revisions.get(id).then((revision) => {
      if (isTerminal(revision.status)) over.abort();
    }, () => {});
  }, pollIntervalMs);
  const seen = new Map<string, string>();
  try {
    const following = AbortSignal.any([signal, over.signal]);
    for await (
      const progress of api.client.revisions.progress(id, {
        format: "ndjson",
        signal: following,
      })
    ) {
      heard = Date.now();
      for (const [stage, status] of stagesOf(progress)) {
        if (seen.get(stage) === status) continue;
        seen.set(stage, status);
        options.onProgress?.({ type: "progress", stage, status });
      }
    }
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (timeout.aborted) throw timedOut();
    if (!over.signal.aborted) {
      const reason = error instanceof Error ? error.message : String(error);
      options.onProgress?.({ type: "polling", reason: `the progress stream failed: ${reason}` });
    }
  } finally {
    clearInterval(watchdog);
  }

  let revision = await api.client.revisions.get(id);
  while (!isTerminal(revision.status)) {
    await sleep(pollIntervalMs, signal).catch(() => {
      if (options.signal?.aborted) throw options.signal.reason;
      throw timedOut();
    });
    revision = await api.client.revisions.get(id);
  }
  return revision;
}

/** `[stage, status]` of each stage of a progress event, in build order. */
function stagesOf(progress: RevisionProgress): [string, string][] {
  const stages: [string, string][] = [];
  for (const name of ["queued", "preparing", "installing", "building", "deploying"] as const) {
    const status = progress?.[name]?.status;
    if (typeof status === "string") stages.push([name, status]);
  }
  return stages;
}

/** A failed revision in words: its build log's error lines, then `failure_detail` explained. */
export function revisionError(revision: Revision, logs: BuildLogEntry[]): string {
  const errors = logs.filter((entry) => entry.level === "error").slice(-20)
    .map((entry) => entry.message);
  const lines = errors.length > 0 ? errors : logs.slice(-1).map((entry) => entry.message);
  const failure = failureOf(revision);
  if (failure) lines.push(failure);
  return lines.join("\n") || "The build failed (no build log).";
}
