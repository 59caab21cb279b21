/**
 * The `Deno.cron` jobs deployments registered: kept so the host knows every schedule after a
 * restart without starting a process (host/tenant/cron.ts runs them).
 *
 * @module
 */
import type { Row } from "./sql.ts";
import type { Store } from "./store.ts";

/** A registered job. */
export interface CronJob {
  deploymentId: string;
  name: string;
  /** The cron expression (an object schedule is stored in its text form). */
  schedule: string;
}

/** Records (or updates) job `name` of the deployment. */
export function recordCron(store: Store, job: CronJob): void {
  store.database.prepare(
    `INSERT INTO deployment_crons (deployment_id, name, schedule) VALUES (?, ?, ?)
     ON CONFLICT (deployment_id, name) DO UPDATE SET schedule = excluded.schedule`,
  ).run(job.deploymentId, job.name, job.schedule);
}

/** The jobs of successful deployments that may run them, by deployment. */
export function runnableCrons(store: Store): CronJob[] {
  return (store.database.prepare(
    `SELECT c.deployment_id, c.name, c.schedule FROM deployment_crons c
     JOIN deployments d ON d.id = c.deployment_id
     WHERE d.status = 'success' AND d.enable_cron = 1
     ORDER BY c.deployment_id, c.name`,
  ).all() as Row[]).map((row) => ({
    deploymentId: String(row.deployment_id),
    name: String(row.name),
    schedule: String(row.schedule),
  }));
}

/** The jobs one deployment registered. */
export function cronsOf(store: Store, deploymentId: string): CronJob[] {
  return (store.database.prepare(
    "SELECT name, schedule FROM deployment_crons WHERE deployment_id = ? ORDER BY name",
  ).all(deploymentId) as Row[]).map((row) => ({
    deploymentId,
    name: String(row.name),
    schedule: String(row.schedule),
  }));
}
