/**
 * The API's side of the host's engine: what the routes ask of the build and runtime
 * (start a build, stop and remove a deployment, restart processes whose variables changed).
 *
 * @module
 */
import type { DeploymentRecord, Store } from "../store/store.ts";

/** What the API needs from the build and runtime side of the host. */
export interface ApiEngine {
  /** The domain deployments are served under, e.g. `localhost`. */
  baseDomain: string;
  /** A pending deployment was recorded: start its build (the API answers at once). */
  deploymentCreated(id: string): void;
  /** A deployment is being deleted: stop its process and remove its files. */
  deploymentDeleted(id: string): Promise<void>;
  /**
   * The variables of these deployments changed (an app's or a layer's): stop their running
   * processes, so the next request starts them with the new values.
   */
  restartDeployments?(ids: string[]): Promise<void>;
  /**
   * These deployments gained or lost their project's production name, so their context
   * (production or development) changed: their processes stop once the requests in flight are
   * answered, and the next request starts them with that context's variables.
   */
  contextChanged?(ids: string[]): Promise<void>;
  /**
   * Empties KV database `id`: stops the processes of `deploymentIds` (bound to it), then
   * removes its files; the next start opens it empty.
   */
  clearKvDatabase?(id: string, deploymentIds: string[]): Promise<void>;
}

/**
 * Hands a newly recorded deployment to the engine's build and returns it as it now stands; a
 * build that cannot even start is recorded as failed rather than left pending.
 */
export function startBuild(
  store: Store,
  engine: ApiEngine,
  record: DeploymentRecord,
): DeploymentRecord {
  try {
    engine.deploymentCreated(record.id);
  } catch (error) {
    console.error(`Could not start the build of deployment ${record.id}:`, error);
    store.appendBuildLog(record.id, "error", "The build could not be started");
    store.setDeploymentStatus(record.id, "failed");
  }
  return store.getDeploymentRecord(record.id) ?? record;
}
