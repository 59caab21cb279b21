/**
 * Wires what the host records about tenants: their app logs ({@link AppLogs}) and their
 * usage ({@link UsageMeter}, fed by the router, the {@link ProcessSampler} and the KV
 * counts the bootstrap reports), with the callbacks the runtime and router take.
 *
 * @module
 */
import type { LogLevel } from "../../lib/types.ts";
import { AppLogs } from "./app_logs.ts";
import { ProcessSampler } from "./process_usage.ts";
import type { ProcessObserver } from "./runtime.ts";
import type { Store } from "../store/store.ts";
import { UsageMeter, type UsageOwner } from "./usage.ts";

/** Tunables of {@link createTelemetry}. */
export interface TelemetryOptions {
  /** How long app logs are kept; default two weeks. */
  logRetentionMs?: number;
  /** App log lines kept per deployment; default 100 000. */
  maxLogLinesPerDeployment?: number;
  /** Bytes of app log messages kept per deployment; default 64 MiB. */
  maxLogBytesPerDeployment?: number;
  /** Bytes of app log messages a deployment may write per second; default 1 MiB. */
  maxLogBytesPerSecond?: number;
}

/** The host's app logs and usage, and the hooks that feed them. */
export interface Telemetry {
  appLogs: AppLogs;
  usage: UsageMeter;
  /** Writes an app log line (for the runtime and the router). */
  appLog(deploymentId: string, level: LogLevel, message: string): void;
  /** The runtime's process hooks: sampling and KV counts. */
  processes: ProcessObserver;
  /** Writes what is buffered and stops the timers. */
  close(): void;
}

/** Creates the app logs and usage meter on `store`. */
export function createTelemetry(store: Store, options: TelemetryOptions = {}): Telemetry {
  const appLogs = new AppLogs(store, {
    retentionMs: options.logRetentionMs,
    maxLinesPerDeployment: options.maxLogLinesPerDeployment,
    maxBytesPerDeployment: options.maxLogBytesPerDeployment,
    maxBytesPerSecond: options.maxLogBytesPerSecond,
  });
  // An analytics query first samples the running processes, so it sees their latest use.
  const sampler = new ProcessSampler({ add: (owner, counts, at) => usage.add(owner, counts, at) });
  const usage = new UsageMeter(store, { beforeQuery: () => sampler.sample() });
  const ownerOf = (deploymentId: string): UsageOwner | undefined => {
    const record = store.getDeploymentRecord(deploymentId);
    return record && { organizationId: record.organizationId, projectId: record.projectId };
  };
  const processes: ProcessObserver = {
    started(deploymentId, pid, lastActive, readUsage) {
      const owner = ownerOf(deploymentId);
      if (owner) sampler.started(owner, pid, lastActive, readUsage);
    },
    served: (pid) => sampler.served(pid),
    stopping: (pid) => sampler.stopping(pid),
    exited: (pid, cpuSeconds) => sampler.exited(pid, cpuSeconds),
    kvUsage(deploymentId, reads, writes) {
      const owner = ownerOf(deploymentId);
      if (owner) usage.add(owner, { kvReadCount: reads, kvWriteCount: writes });
    },
  };
  return {
    appLogs,
    usage,
    appLog: (deploymentId, level, message) => appLogs.append(deploymentId, level, message),
    processes,
    close() {
      sampler.sample();
      sampler.close();
      usage.close();
      appLogs.close();
    },
  };
}
