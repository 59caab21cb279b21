/**
 * Writing deployments, shared by v1's create and v2's deploy: the checked files become blobs,
 * then rows that point at them, in that order; deleting frees blobs no other deployment uses.
 * Creating (which may reuse blobs) shares a lock that freeing takes alone, so a blob is never
 * deleted between a create's check and its insert.
 *
 * @module
 */
import type { BlobStore } from "../store/blobs.ts";
import {
  type AssetRecord,
  type DeploymentRecord,
  type NewDeployment,
  type Store,
  UnknownBlobError,
} from "../store/store.ts";
import { type CheckedAsset, type CheckedDeployment, RequestError } from "./validate.ts";
import type { ApiEngine } from "./engine.ts";
import { gitSha1 } from "../../lib/git_sha1.ts";
import type { QuotaGuard } from "./quotas.ts";
import { projectNotFound } from "./v1/ownership.ts";

/** Blob writes in flight per create-deployment request. */
const PUT_CONCURRENCY = 8;

/**
 * The most a deployment's settings may take in host.db as JSON: everything it keeps there but
 * its files (bounded by the asset limits) and its variables (bounded on their own, 512 KiB).
 * A v2 revision's `config` keeps keys the host does not act on and v1's compiler options are
 * strings, none of them bounded but by the 1.5 GiB body: one deploy of 100 MB of `config`
 * grew host.db by 210 MiB, outside the storage quota. What Deploy allows (32 labels of 16
 * values of 256 characters, 1 000 `permissions.net` entries) takes well under this.
 */
export const MAX_SETTINGS_BYTES = 512 * 1024;

/** What a new deployment names besides its checked body. */
export type DeploymentFields = Pick<
  NewDeployment,
  "id" | "projectId" | "domains" | "requestedDomains" | "revision" | "enableCron" | "runtimeArgs"
>;

/**
 * Throws `400 settingsTooLarge` when what the deployment keeps in host.db besides its files and
 * variables takes more than {@link MAX_SETTINGS_BYTES} as JSON.
 */
function assertSettingsSize(checked: CheckedDeployment, fields: DeploymentFields): void {
  const { assets: _assets, envVars: _envVars, ...settings } = checked;
  const json = JSON.stringify({ ...settings, ...fields });
  // A UTF-16 unit is at least one byte of UTF-8: a long string is over without encoding it.
  const bytes = json.length > MAX_SETTINGS_BYTES ? json.length : encoder.encode(json).byteLength;
  if (bytes > MAX_SETTINGS_BYTES) {
    throw new RequestError(
      400,
      "settingsTooLarge",
      `The deployment's settings (config, labels, compiler options, permissions and the like) ` +
        `take ${bytes} bytes as JSON; at most ${MAX_SETTINGS_BYTES}`,
    );
  }
}

const encoder = new TextEncoder();

/** Records and deletes deployments with their blobs. */
export class DeploymentWrites {
  #store: Store;
  #blobs: BlobStore;
  #engine: ApiEngine;
  #quotas: QuotaGuard;
  #blobLock = new SharedExclusiveLock();

  /** Creates the writer; `quotas` bounds each organization's deployments and stored bytes. */
  constructor(store: Store, blobs: BlobStore, engine: ApiEngine, quotas: QuotaGuard) {
    this.#store = store;
    this.#blobs = blobs;
    this.#engine = engine;
    this.#quotas = quotas;
  }

  /**
   * Stores the checked files as blobs, then records the pending deployment and its assets.
   * Throws 400 `unknownGitSha1` for hashes the organization may not use, 404 when the
   * project went away.
   */
  async record(
    organizationId: string,
    checked: CheckedDeployment,
    fields: DeploymentFields,
  ): Promise<DeploymentRecord> {
    const store = this.#store;
    const blobs = this.#blobs;
    this.#quotas.assertCanCreate(organizationId, "deployments");
    assertSettingsSize(checked, fields);
    // Each file is hashed once: for the storage quota here, for the blob store below.
    const hashes = new Map<CheckedAsset, string>();
    for (const asset of checked.assets) {
      if ("bytes" in asset) hashes.set(asset, gitSha1(asset.bytes));
    }
    this.#quotas.assertCanStore(organizationId, this.#newBytes(organizationId, hashes));
    const record = await this.#blobLock.shared(async () => {
      await this.#assertBlobsKnown(organizationId, checked.assets);
      // Blobs first, then the rows that point at them.
      const assets = await mapConcurrent(
        checked.assets,
        PUT_CONCURRENCY,
        async (asset): Promise<AssetRecord> => {
          if (!("bytes" in asset)) return asset;
          const hash = await blobs.put(asset.bytes, hashes.get(asset));
          store.recordOrgBlob(organizationId, hash, asset.bytes.byteLength);
          return { path: asset.path, kind: "file", gitSha1: hash };
        },
      );
      try {
        return store.createDeployment({
          ...fields,
          description: checked.description,
          entryPointUrl: checked.entryPointUrl,
          envVars: checked.envVars,
          databases: checked.databases,
          importMapUrl: checked.importMapUrl,
          lockFileUrl: checked.lockFileUrl,
          compilerOptions: checked.compilerOptions,
          requestTimeout: checked.requestTimeout,
          permissions: checked.permissions,
          assets,
        });
      } catch (error) {
        if (error instanceof UnknownBlobError) {
          const asset = assets.find((a) => a.gitSha1 === error.gitSha1);
          throw unknownGitSha1([asset?.path ?? error.gitSha1]);
        }
        throw error;
      }
    });
    if (!record) throw projectNotFound(fields.projectId);
    return record;
  }

  /**
   * Stops the deployment, removes its files and rows, and frees blobs only it used (and its
   * project's copies of those only it used in the project).
   */
  async delete(id: string): Promise<void> {
    await this.#engine.deploymentDeleted(id);
    await this.#blobLock.exclusive(async () => {
      const projectId = this.#store.getDeploymentRecord(id)?.projectId;
      const inProject = this.#store.blobsOnlyInProjectUsedBy(id);
      for (const gitSha1 of this.#store.deleteDeployment(id)) await this.#blobs.delete(gitSha1);
      if (projectId === undefined) return;
      for (const gitSha1 of inProject) await this.#blobs.deleteProjectCopy(projectId, gitSha1);
    });
  }

  /** Deletes the project with every deployment of it, and what is left of its blobs' copies. */
  async deleteProject(projectId: string): Promise<void> {
    // Loop until none is left: a deployment may be created while we delete.
    for (let ids = this.#store.listDeploymentIds(projectId); ids.length > 0;) {
      for (const id of ids) await this.delete(id);
      ids = this.#store.listDeploymentIds(projectId);
    }
    this.#store.deleteProject(projectId);
    await this.#blobLock.exclusive(() => this.#blobs.deleteProjectCopies(projectId));
  }

  /** Bytes of the files the organization does not hold yet (each distinct file once). */
  #newBytes(organizationId: string, hashes: Map<CheckedAsset, string>): number {
    const seen = new Set<string>();
    let bytes = 0;
    for (const [asset, hash] of hashes) {
      if (seen.has(hash) || this.#store.orgHasBlob(organizationId, hash)) continue;
      seen.add(hash);
      if ("bytes" in asset) bytes += asset.bytes.byteLength;
    }
    return bytes;
  }

  /** Hash-only assets must be blobs this organization uploaded and the store still holds. */
  async #assertBlobsKnown(organizationId: string, assets: CheckedAsset[]): Promise<void> {
    const unknown: string[] = [];
    for (const asset of assets) {
      if (!("gitSha1" in asset)) continue;
      const known = this.#store.orgHasBlob(organizationId, asset.gitSha1) &&
        await this.#blobs.has(asset.gitSha1);
      if (!known) unknown.push(asset.path);
    }
    if (unknown.length > 0) throw unknownGitSha1(unknown);
  }
}

function unknownGitSha1(paths: string[]): RequestError {
  const named = paths.slice(0, 10).map((p) => `"${p}"`).join(", ");
  const more = paths.length > 10 ? ` and ${paths.length - 10} more` : "";
  return new RequestError(
    400,
    "unknownGitSha1",
    `Unknown gitSha1 for asset ${named}${more}: this organization has not uploaded that ` +
      `content; send the asset with its content instead`,
  );
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep their order. */
async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Many shared holders or one exclusive holder; a waiting exclusive holder blocks new shared ones. */
class SharedExclusiveLock {
  #shared = 0;
  #exclusive = false;
  #exclusiveWaiting = 0;
  #waiters: (() => void)[] = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive || this.#exclusiveWaiting > 0) await this.#wait();
    this.#shared++;
    try {
      return await fn();
    } finally {
      this.#shared--;
      this.#wake();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.#exclusiveWaiting++;
    try {
      while (this.#exclusive || this.#shared > 0) await this.#wait();
    } finally {
      this.#exclusiveWaiting--;
    }
    this.#exclusive = true;
    try {
      return await fn();
    } finally {
      this.#exclusive = false;
      this.#wake();
    }
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    for (const resolve of this.#waiters.splice(0)) resolve();
  }
}
