/**
 * A process's context (production or development) is fixed when it starts: it is production
 * while its deployment holds its project's production name (build/builder.ts `startSettings`).
 * Routes that move that name restart the processes on both sides through this.
 *
 * @module
 */
import { contextChanged, productionHolders } from "../build/builder.ts";
import type { DeploymentRecord, Store } from "../store/store.ts";
import type { ApiEngine } from "./engine.ts";

/**
 * Runs `change`, which may move the production name of `record`'s project (attach, detach,
 * promote), then restarts the deployments that gained or lost it, so that each runs with its
 * new context's variables and `DENO_TIMELINE`, as Deploy's timelines do. Returns what `change`
 * returned.
 */
export async function movingProduction<T>(
  store: Store,
  engine: ApiEngine,
  record: DeploymentRecord,
  change: () => T,
): Promise<T> {
  const before = productionHolders(store, record, engine.baseDomain);
  const result = change();
  const moved = contextChanged(before, productionHolders(store, record, engine.baseDomain));
  if (moved.length > 0) await engine.contextChanged?.(moved);
  return result;
}
