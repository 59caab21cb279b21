/**
 * The build: materialise a deployment's files from the blob store, resolve its entry point,
 * config, lock file and compiler options, and boot it once to prove the module graph loads.
 * Status goes `pending → success | failed`, with each step in the build log.
 *
 * @module
 */
import { dirname, join, posix } from "node:path";
import type { BlobStore } from "../store/blobs.ts";
import {
  deploymentDirs,
  type RunnableDeployment,
  type Runtime,
  TenantStartError,
} from "../tenant/runtime.ts";
import { OUTPUT_TAIL_CHARS } from "../tenant/tenant_process.ts";
import { requestTimeoutMs } from "../tenant/limits.ts";
import type { DeploymentRecord, Store } from "../store/store.ts";
import { runtimeEnv } from "../store/layers.ts";
import { cronsOf } from "../store/crons.ts";
import { fetchDependencies, needsDependencies } from "./dependencies.ts";

/** What the builder works with. */
export interface BuilderOptions {
  store: Store;
  blobs: BlobStore;
  runtime: Runtime;
  deploymentsDir: string;
  baseDomain: string;
  /** Origin tenants are reached at, for the "Deployed to" line, e.g. `http://{domain}:8000`. */
  urlFor: (domain: string) => string;
  concurrency?: number;
  /**
   * Called before a deployment goes live with `domains` (some may move to it from another
   * deployment): whatever routes those names elsewhere must stop first.
   */
  beforeLive?: (id: string, domains: string[]) => Promise<void>;
  /** Called once the deployment is live. */
  afterLive?: (id: string) => void;
  /** Why a `Deno.cron` job the deployment registered while booting was refused, if one was. */
  cronRefusal?: (id: string) => string | undefined;
  /**
   * These deployments lost their project's production name to a build going live: their
   * processes start again in the development context (never throws).
   */
  contextChanged?: (ids: string[]) => Promise<void>;
  /**
   * The host's egress proxy (`http://127.0.0.1:<port>`) and the Deno binary the dependency
   * step fetches `npm:`, `jsr:` and `https:` modules with; without them no module is fetched.
   */
  dependencies?: { proxyUrl: string; deno: string; maxBytes?: number };
}

/** Runs builds in the background, a few at a time. */
export class Builder {
  #options: BuilderOptions;
  #queue: string[] = [];
  #active = 0;
  #idle: (() => void)[] = [];

  /** Creates a builder. */
  constructor(options: BuilderOptions) {
    this.#options = options;
  }

  /** Queues the build of deployment `id`. */
  enqueue(id: string): void {
    this.#queue.push(id);
    this.#pump();
  }

  /** Resolves once no build is queued or running. */
  idle(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    const limit = this.#options.concurrency ?? 2;
    while (this.#active < limit && this.#queue.length > 0) {
      const id = this.#queue.shift()!;
      this.#active++;
      this.build(id).finally(() => {
        this.#active--;
        this.#pump();
        if (this.#active === 0 && this.#queue.length === 0) {
          for (const resolve of this.#idle.splice(0)) resolve();
        }
      });
    }
  }

  /** Builds deployment `id` now. Never throws: a failure is recorded on the deployment. */
  async build(id: string): Promise<void> {
    const { store, runtime } = this.#options;
    const record = store.getDeploymentRecord(id);
    if (!record || record.status !== "pending") return;
    const log = (message: string, level = "info") => store.appendBuildLog(id, level, message);
    const { baseDomain } = this.#options;
    store.markBuildStarted(id);
    try {
      const dirs = deploymentDirs(this.#options.deploymentsDir, id);
      const count = await this.#materialise(id, record.projectId, dirs.app);
      log(`Materialised ${count} assets`);
      const runnable = startSettings(store, record, dirs.app, baseDomain);
      log(`Entry point: ${runnable.entrypoint}`);
      await this.#fetchDependencies(dirs, runnable, log);
      log(`Starting the deployment (isolation: ${runtime.isolation.kind})`);
      // Below serving processes in CPU weight until it goes live (see Runtime.promote).
      // Boots a few at a time, after requests' cold starts (tenant/boot_queue.ts).
      await runtime.ensure(runnable, "check");
      const now = store.getDeploymentRecord(id);
      if (now?.status !== "pending") return await runtime.stop(id); // deleted meanwhile
      // Deno.cron throws at registration for a schedule that does not read, failing the start.
      const refused = this.#options.cronRefusal?.(id);
      if (refused) throw new BuildError(refused);
      const jobs = cronsOf(store, id);
      if (jobs.length > 0 && !now.enableCron) {
        throw new BuildError(
          `The deployment registers Deno.cron jobs (${jobs.map((j) => j.name).join(", ")}) ` +
            "but cron is not enabled for it: deploy with enableCron (v1) or config.crons (v2)",
        );
      }
      if (jobs.length > 0) {
        log(`Cron jobs: ${jobs.map((j) => `${j.name} (${j.schedule})`).join(", ")}`);
      }
      if (now.cancellationRequestedAt) {
        await runtime.stop(id);
        log("The build was cancelled", "error");
        store.setFailure(id, "cancelled");
        store.setDeploymentStatus(id, "failed");
        return;
      }
      // The record as it is now: a rename during the build changed its names.
      const domains = keepNewerProduction(
        store,
        now,
        liveDomains(now, baseDomain),
        baseDomain,
        log,
      );
      log(domains.length ? `Deployed to ${this.#options.urlFor(domains[0])}` : "Deployed");
      await this.#options.beforeLive?.(id, domains);
      const holders = productionHolders(store, now, baseDomain);
      store.setDeploymentStatus(id, "success", domains);
      runtime.promote(id);
      this.#options.afterLive?.(id);
      // The production name moved here: the previous holder runs as a preview from now on.
      const moved = contextChanged(holders, productionHolders(store, now, baseDomain));
      await this.#options.contextChanged?.(moved.filter((other) => other !== id));
    } catch (error) {
      await runtime.stop(id);
      const message = (error as Error).message.split("\n")[0];
      if (error instanceof TenantStartError) {
        log("The deployment failed to start:", "error");
        for (const line of error.output.split("\n").filter(Boolean)) log(line, "error");
        log(message, "error");
      } else {
        log((error as Error).message, "error");
      }
      if (!store.getDeploymentRecord(id)) return;
      store.setFailure(
        id,
        "error",
        error instanceof TenantStartError
          ? { stage: "warmup", code: "boot_failed", message: firstLine(error.output) ?? message }
          : null,
      );
      store.setDeploymentStatus(id, "failed");
    }
  }

  /** Fetches the modules the app imports from registries and URLs into its own cache. */
  async #fetchDependencies(
    dirs: { app: string; cache: string },
    runnable: RunnableDeployment,
    log: (message: string, level?: string) => void,
  ): Promise<void> {
    const dependencies = this.#options.dependencies;
    if (!dependencies || !await needsDependencies(dirs.app)) return;
    log("Fetching dependencies (npm:, jsr:, https:) through the host's egress proxy");
    await Deno.mkdir(dirs.cache, { recursive: true, mode: 0o700 });
    const result = await fetchDependencies(
      {
        appDir: dirs.app,
        cacheDir: dirs.cache,
        entrypoint: runnable.entrypoint,
        denoFlags: runnable.denoFlags,
        deno: dependencies.deno,
        proxyUrl: dependencies.proxyUrl,
      },
      this.#options.runtime.isolation,
      dependencies.maxBytes,
    );
    if (result.ok) return;
    if (result.tooLarge) {
      // Not kept: the deployment cannot run without them, and they are what filled the disk.
      await Deno.remove(dirs.cache, { recursive: true }).catch(() => {});
      log(result.output, "error");
      throw new BuildError("The deployment's dependencies are too large");
    }
    // Its last lines: the whole of it could be as long as the import specifiers the app names.
    const output = result.output.length > OUTPUT_TAIL_CHARS
      ? result.output.slice(-OUTPUT_TAIL_CHARS)
      : result.output;
    for (const line of output.split("\n").filter(Boolean)) log(line, "error");
    throw new BuildError("Could not fetch the deployment's dependencies");
  }

  /** Writes the deployment's files: hard links to its project's copies of the blobs. */
  async #materialise(id: string, projectId: string, appDir: string): Promise<number> {
    await Deno.remove(appDir, { recursive: true }).catch(() => {});
    await Deno.mkdir(appDir, { recursive: true, mode: 0o755 });
    const assets = this.#options.store.listDeploymentAssets(id);
    for (const asset of assets) {
      const target = join(appDir, ...asset.path.split("/"));
      await Deno.mkdir(dirname(target), { recursive: true });
      if (asset.kind === "symlink") {
        const relative = posix.relative(posix.dirname(asset.path), asset.target!);
        await Deno.symlink(relative || ".", target);
        continue;
      }
      const source = await this.#options.blobs.projectCopy(projectId, asset.gitSha1!);
      try {
        await Deno.link(source, target);
      } catch {
        await Deno.copyFile(source, target);
      }
    }
    return assets.length;
  }
}

/**
 * `domains` without the production names a deployment created after `record` already serves:
 * of two builds racing to production, the newer one keeps it whichever finishes last.
 */
function keepNewerProduction(
  store: Store,
  record: DeploymentRecord,
  domains: string[],
  baseDomain: string,
  log: (message: string, level?: string) => void,
): string[] {
  const production = productionNames(record.projectName, record.organizationSlug, baseDomain);
  return domains.filter((domain) => {
    if (!production.includes(domain)) return true;
    const newer = newerHolder(store, record, domain);
    if (newer) {
      log(`${domain} stays with deployment ${newer.id}, created after this one`, "warning");
    }
    return !newer;
  });
}

/** The deployment serving `domain`, when it was created after `record` (and is not it). */
export function newerHolder(
  store: Store,
  record: DeploymentRecord,
  domain: string,
): DeploymentRecord | undefined {
  const holder = store.domainBinding(domain);
  if (!holder || holder.deploymentId === record.id) return undefined;
  const current = store.getDeploymentRecord(holder.deploymentId);
  return current && current.createdAt > record.createdAt ? current : undefined;
}

/** An expected build failure, logged as is. */
class BuildError extends Error {}

/** The entry point as an asset path: `./main.ts`, `/main.ts` and `file:///src/main.ts` → `main.ts`. */
export function entrypointPath(entryPointUrl: string): string {
  let path = entryPointUrl;
  if (path.startsWith("file://")) path = new URL(path).pathname.replace(/^\/src\//, "/");
  return posix.normalize(path.replace(/^\.?\/+/, ""));
}

/**
 * What the runtime needs to start `record` now: {@link runnableDeployment} with the variables
 * its process sees (layers < app < deployment, for its context: production or development).
 */
export function startSettings(
  store: Store,
  record: DeploymentRecord,
  appDir: string,
  baseDomain: string,
): RunnableDeployment {
  const production = isProduction(record, baseDomain);
  const context = production ? "production" : "development";
  return runnableDeployment(record, appDir, {
    ...runtimeEnv(store, record, context),
    ...predefinedEnv(record, production),
  });
}

/**
 * The variables Deploy sets in every app's runtime (deploy/reference/env_vars_and_contexts.md,
 * "Predefined environment variables"), beside `DENO_DEPLOYMENT_ID` and `DENO_REGION`, which
 * the sandbox sets. `DENO_` names are reserved, so no variable of the deployment's can clash.
 */
export function predefinedEnv(
  record: DeploymentRecord,
  production: boolean,
): Record<string, string> {
  return {
    DENO_DEPLOY: "true",
    DENO_DEPLOY_ORG_ID: record.organizationId,
    DENO_DEPLOY_ORG_SLUG: record.organizationSlug,
    DENO_DEPLOY_APP_ID: record.projectId,
    DENO_DEPLOY_APP_SLUG: record.projectName,
    DENO_DEPLOY_BUILD_ID: record.id,
    DENO_TIMELINE: production ? "production" : `preview/${record.id}`,
  };
}

/** Whether `record` holds (or, while building, asks for) its project's production name. */
export function isProduction(record: DeploymentRecord, baseDomain: string): boolean {
  if (record.status === "failed") return false;
  const names = productionNames(record.projectName, record.organizationSlug, baseDomain);
  return (record.domains ?? []).some((domain) => names.includes(domain));
}

/**
 * The deployments holding `record`'s project's production names now (v1's and v2's): the ones
 * whose processes run in the production context.
 */
export function productionHolders(
  store: Store,
  record: DeploymentRecord,
  baseDomain: string,
): string[] {
  const names = productionNames(record.projectName, record.organizationSlug, baseDomain);
  const holders = names.map((name) => store.domainBinding(name)?.deploymentId);
  return [...new Set(holders.filter((id) => id !== undefined))];
}

/** The ids in only one of `before` and `after`: the deployments whose context changed. */
export function contextChanged(before: string[], after: string[]): string[] {
  return [
    ...before.filter((id) => !after.includes(id)),
    ...after.filter((id) => !before.includes(id)),
  ];
}

/** A project's production names: v1's `{project}.{base}` and v2's `{app}.{org}.{base}`. */
export function productionNames(project: string, organizationSlug: string, base: string): string[] {
  return [`${project}.${base}`, `${project}.${organizationSlug}.${base}`];
}

/** A deployment's own names: v1's `{project}-{id}.{base}` and v2's `{app}-{id}.{org}.{base}`. */
export function previewNames(record: DeploymentRecord, base: string): string[] {
  const name = `${record.projectName}-${record.id}`;
  return [`${name}.${base}`, `${name}.${record.organizationSlug}.${base}`];
}

/** What the runtime needs to start `record`, deriving `deno run` flags from its files and options. */
export function runnableDeployment(
  record: DeploymentRecord,
  appDir: string,
  envVars: Record<string, string> = record.envVars,
): RunnableDeployment {
  const entrypoint = entrypointPath(record.entryPointUrl);
  if (!isFile(join(appDir, entrypoint))) {
    throw new BuildError(`The entry point ${entrypoint} is not a file in the deployment's assets`);
  }
  const flags: string[] = [];
  if (record.importMapUrl) flags.push(`--import-map={app}/${entrypointPath(record.importMapUrl)}`);
  if (record.lockFileUrl) {
    flags.push(`--lock={app}/${entrypointPath(record.lockFileUrl)}`, "--frozen");
  } else if (record.lockFileUrl === "" || !isFile(join(appDir, "deno.lock"))) {
    flags.push("--no-lock");
  } else flags.push("--frozen");
  const options = record.compilerOptions;
  if (options && Object.keys(options).length > 0) {
    flags.push(`--config={app}/${writeCompilerConfig(appDir, options)}`);
  }
  return {
    id: record.id,
    entrypoint,
    envVars,
    kvDatabaseId: record.databases.default ?? null,
    net: record.permissions?.net,
    denoFlags: flags,
    args: record.runtimeArgs,
    requestTimeoutMs: requestTimeoutMs(record),
  };
}

/** Merges explicit compiler options over the app's own `deno.json` into a config beside it. */
function writeCompilerConfig(appDir: string, compilerOptions: object): string {
  const name = ".deploy-tenant.json";
  let base: Record<string, unknown> = {};
  try {
    base = JSON.parse(Deno.readTextFileSync(join(appDir, "deno.json")));
  } catch { /* no deno.json, or JSONC: explicit options only */ }
  const merged = {
    ...base,
    compilerOptions: { ...(base.compilerOptions as object ?? {}), ...compilerOptions },
  };
  // Every file of the app dir may be a hard link into the shared blob store (a tenant can ship
  // a file of this name whose bytes equal another tenant's file): never write into an existing
  // file. A new one is renamed over the name, which replaces only this directory's entry.
  const temp = join(appDir, `${name}.${crypto.randomUUID()}`);
  Deno.writeTextFileSync(temp, JSON.stringify(merged), { createNew: true });
  Deno.renameSync(temp, join(appDir, name));
  return name;
}

/**
 * The domains a successful deployment gets: the requested ones with placeholders filled, or
 * the default; each v1 name under the base domain comes with its v2 twin and back
 * (`{p}-{id}.{base}` and `{p}-{id}.{org}.{base}`; `{p}.{base}` and `{p}.{org}.{base}`).
 */
export function liveDomains(record: DeploymentRecord, baseDomain: string): string[] {
  const requested = record.domains ?? ["{project.name}-{deployment.id}." + baseDomain];
  const resolved = requested.map((domain) =>
    domain.replaceAll("{project.name}", record.projectName)
      .replaceAll("{deployment.id}", record.id)
      .toLowerCase()
  );
  const twins = [
    productionNames(record.projectName, record.organizationSlug, baseDomain),
    previewNames(record, baseDomain),
  ];
  for (const pair of twins) {
    if (pair.some((name) => resolved.includes(name))) resolved.push(...pair);
  }
  return [...new Set(resolved)];
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The first line of a process's error output (Deno's `error: …` of an uncaught error). */
function firstLine(output: string): string | undefined {
  return output.split("\n").map((line) => line.trim()).find(Boolean);
}
