/**
 * v2's `RevisionProgress` of a deployment: the stages Deploy reports, mapped onto the local
 * host's build (materialise the files, then boot the app once to check it loads). There is
 * no install or build command here, so those stages are always `skipped`.
 *
 * @module
 */
import { isProduction } from "../../build/builder.ts";
import type { DeploymentRecord } from "../../store/store.ts";

type Stage = { status: string; start?: string; end?: string };

/** The progress of `record` as it stands. */
export function revisionProgress(record: DeploymentRecord, baseDomain: string): object {
  const started = record.buildStartedAt ?? undefined;
  const finished = record.buildFinishedAt ?? undefined;
  const outcome = record.status === "success"
    ? "succeeded"
    : record.failureReason === "cancelled"
    ? "cancelled"
    : "errored";
  const stage = (status: string, start?: string, end?: string): Stage => ({
    status,
    ...(start ? { start } : {}),
    ...(end ? { end } : {}),
  });
  const building = !started
    ? stage("pending")
    : record.status === "pending"
    ? stage("running", started)
    : stage(outcome, started, finished);
  const deploying = record.status === "success"
    ? stage("succeeded", finished, finished)
    : stage(record.status === "pending" ? "pending" : "skipped");
  const timeline = {
    slug: isProduction(record, baseDomain) ? "production" : `preview/${record.id}`,
    partition: {},
    ...deploying,
    databases: [],
    predeploy: { status: "skipped", command: null },
    warmup: deploying,
    routing: deploying,
  };
  return {
    queued: started
      ? stage("succeeded", record.createdAt, started)
      : stage("running", record.createdAt),
    preparing: started ? stage("succeeded", started, started) : stage("pending"),
    installing: { status: started ? "skipped" : "pending", command: null },
    building: { ...building, command: null },
    deploying: { ...deploying, timelines: record.status === "success" ? [timeline] : [] },
  };
}
