/**
 * A `Runtime` with a warm pool, as the warm-pool and module-seed tests start it, and the
 * settings of a deployment a pooled runtime may take.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type RunnableDeployment,
  Runtime,
  type RuntimeOptions,
} from "../../host/tenant/runtime.ts";
import { detectIsolation, tenantDenoBinary } from "../../host/tenant/sandbox.ts";
import { POOL_DENO_FLAGS } from "../../host/tenant/warm_pool.ts";

const bootstrap = fileURLToPath(new URL("../../host/tenant/bootstrap.js", import.meta.url));
const poolMain = fileURLToPath(new URL("../../host/tenant/pool.js", import.meta.url));

/** This machine's isolation: the pool runs only under bubblewrap (`kind` `bwrap`). */
export const isolation = await detectIsolation(false);

/** A runtime with a warm pool (at least one), its deployments and pool under `root`. */
export function pooledRuntime(root: string, options: Partial<RuntimeOptions> = {}): Runtime {
  return new Runtime({
    isolation,
    deploymentsDir: join(root, "deployments"),
    poolDir: join(root, "pool"),
    bootstrap,
    poolMain,
    warmPool: 1,
    deno: tenantDenoBinary(),
    ...options,
  });
}

/** Deployment `id` (entry point `main.ts`) with the settings a pooled runtime may take. */
export function poolableDeployment(
  id: string,
  extra: Partial<RunnableDeployment> = {},
): RunnableDeployment {
  return { id, entrypoint: "main.ts", envVars: {}, denoFlags: [...POOL_DENO_FLAGS], ...extra };
}
