/**
 * A tenant process as the supervisor launches it (runtime.ts): the directories it runs from,
 * the record of a spawned process whose output is being read, the tail of its errors kept for a
 * start failure, the waits until it serves, and the words for how it ended.
 *
 * These are the plumbing of one launch, apart from the supervisor's bookkeeping (which
 * deployment has which process, eviction, the warm pool) so that runtime.ts reads as that
 * bookkeeping. Nothing here holds state across processes.
 *
 * @module
 */
import { join } from "node:path";
import { truncateMessage } from "./app_logs.ts";
import type { TenantCgroup } from "./cgroups.ts";
import type { TenantClient } from "./client.ts";

/**
 * Paths of one deployment's directories: its files (`app`), its socket's (`run`) and its Deno
 * cache, under `root`. A pooled runtime's are laid out the same under the pool's directory.
 */
export function deploymentDirs(
  deploymentsDir: string,
  id: string,
): { root: string; app: string; run: string; cache: string } {
  const root = join(deploymentsDir, id);
  return { root, app: join(root, "app"), run: join(root, "run"), cache: join(root, "cache") };
}

/** A spawned tenant process, its output being read; a deployment's once claimed. */
export interface Launched {
  /** The spawned process (the sandbox, when there is one: the tenant runs under it). */
  child: Deno.ChildProcess;
  /** Its socket, on the host. */
  socketPath: string;
  /** Its Deno cache, on the host. */
  cacheDir: string;
  /** When it became a deployment's (its start time counts from there). */
  claimedAt: number;
  /** The deployment it is the process of; `undefined` until claimed (a pooled runtime). */
  deploymentId: string | undefined;
  /** Whether it listened: an exit after that is a crash. */
  ready: boolean;
  /** The CPU time its cgroup counted, read at its exit (before the cgroup is removed). */
  cpuSecondsAtExit?: number;
  /** Whether it ran out of its memory cap (V8 said so, the guard or the kernel killed it). */
  outOfMemory: boolean;
  /** What its deployment's log says when it ran out of memory. */
  memoryReport: string;
  /** The last lines it logged as errors, for a start failure. */
  output: OutputTail;
  /** Settles once its stdout and stderr have been read to the end. */
  outputDone: Promise<void>;
  /** Settles with its exit status, after the supervisor's own bookkeeping of the exit. */
  exited: Promise<Deno.CommandStatus>;
  /** Resolved when the bootstrap says the server listens. */
  listening: PromiseWithResolvers<void>;
  /** A pooled runtime's client, connected (and warmed up) before it had a deployment. */
  client?: TenantClient;
  /** The secret of the host's warm-up request, when it was launched with one. */
  warmUpSecret?: string;
  /** Its cgroup (memory limit, CPU weight), when the host has cgroups. */
  cgroup?: TenantCgroup;
}

/** The most lines of a process's last errors kept for a start failure (its build log). */
const OUTPUT_TAIL_LINES = 50;

/** The most characters of them kept: the last ones (a line's own bound is the app log's). */
export const OUTPUT_TAIL_CHARS = 64 * 1024;

/** Keeps the last lines a process wrote to stderr, for build logs. */
export class OutputTail {
  #lines: string[] = [];
  #chars = 0;
  /** Keeps `line`, dropping the oldest past {@link OUTPUT_TAIL_CHARS} or 50 lines. */
  push(line: string): void {
    // Bounded as the app log bounds a line, and as a whole: a module failing its build's check
    // wrote 10 MB into the build log (host.db), every deploy, for as long as the deployment stays.
    line = truncateMessage(line);
    this.#lines.push(line);
    this.#chars += line.length;
    while (
      this.#lines.length > OUTPUT_TAIL_LINES ||
      (this.#chars > OUTPUT_TAIL_CHARS && this.#lines.length > 1)
    ) {
      this.#chars -= this.#lines.shift()!.length;
    }
  }
  /** The lines kept, oldest first, one per line. */
  text(): string {
    return this.#lines.join("\n");
  }
}

/** How V8 starts reporting that the heap hit `--max-old-space-size`. */
export const V8_OUT_OF_MEMORY =
  /^<--- Last few GCs --->|Fatal JavaScript out of memory|JavaScript heap out of memory/;

/** How a process ended, for a log line: "was killed by SIGKILL", "exited with code 1". */
export function describeExit(status: Deno.CommandStatus): string {
  return status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
}

/** Waits until the tenant says it serves, or fails if it exits or takes too long. */
export async function waitForWord(
  listening: Promise<void>,
  exited: Promise<Deno.CommandStatus>,
  timeoutMs: number,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      listening,
      exited.then((status) => {
        throw exitedBeforeServing(status);
      }),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(notServingWithin(timeoutMs)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until the tenant listens on its socket, or fails if it exits or takes too long. The
 * bootstrap's word that it listens wakes the wait early; the socket itself is the proof.
 */
export async function waitForSocket(
  path: string,
  exited: Promise<Deno.CommandStatus>,
  listening: Promise<void>,
  timeoutMs: number,
): Promise<void> {
  let exitStatus: Deno.CommandStatus | undefined;
  exited.then((status) => exitStatus = status);
  let said = false; // once it said so, the wait goes back to polling
  listening.then(() => said = true);
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; Date.now() < deadline; delay = Math.min(delay * 2, 25)) {
    if (exitStatus) {
      throw exitedBeforeServing(exitStatus);
    }
    try {
      const conn = await Deno.connect({ transport: "unix", path });
      conn.close();
      return;
    } catch { /* not listening yet */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const sleep = new Promise((resolve) => timer = setTimeout(resolve, delay));
    await (said ? sleep : Promise.race([listening, sleep]));
    clearTimeout(timer);
  }
  throw notServingWithin(timeoutMs);
}

/** The start failure of a process that exited before it listened. */
function exitedBeforeServing(status: Deno.CommandStatus): Error {
  return new Error(`The deployment exited with code ${status.code} before it served`);
}

/** The start failure of a process that did not listen in time. */
function notServingWithin(timeoutMs: number): Error {
  return new Error(`The deployment did not start serving within ${timeoutMs / 1000} s`);
}

/** Settles after `ms` milliseconds (a timer that keeps the event loop alive). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
