/**
 * `Deno.cron` on the local host. A deployment's bootstrap reports each job it registers (at
 * its build's boot check and whenever it starts); the host keeps them in the store. Once a
 * minute, every job of a *current* deployment (the one serving its project's production
 * name) whose schedule matches that minute (UTC) runs: the process is started if it is not
 * running, and told the job's name on its lifeline; the job's start, end and errors go to the
 * app logs. Jobs of other deployments never run. A deployment runs jobs only when enabled
 * (v1 `enableCron`, v2 `config.crons`, on by default there).
 *
 * @module
 */
import { isProduction } from "../build/builder.ts";
import { cronsOf, recordCron, runnableCrons } from "../store/crons.ts";
import type { Store } from "../store/store.ts";
import { parseCron, scheduleText } from "./cron_schedule.ts";

/** Longest job name (as bootstrap.js checks). */
export const MAX_CRON_NAME_LENGTH = 64;

/** Longest schedule kept, in its text form. */
export const MAX_CRON_SCHEDULE_LENGTH = 256;

/** Most refusals {@link CronScheduler} keeps for builds to ask about. */
const MAX_REFUSALS_KEPT = 1_000;

/** Most jobs one deployment registers. */
export const MAX_CRONS_PER_DEPLOYMENT = 32;

/** What the scheduler needs of the host. */
export interface CronRunner {
  store: Store;
  baseDomain: string;
  /** Starts the deployment's process if need be, then runs the job in it. */
  run(deploymentId: string, name: string): Promise<void>;
  /** Logs to the deployment's app logs. */
  log(deploymentId: string, level: "info" | "error", message: string): void;
  /** The clock (tests move it); default `Date.now`. */
  now?: () => number;
}

/** Runs registered jobs on their schedules. */
export class CronScheduler {
  #runner: CronRunner;
  #timer: number | undefined;
  #lastMinute = -1;
  #running = new Set<string>();
  // The last schedule each deployment registered that does not read, until its build asks.
  #refused = new Map<string, string>();

  /** Creates the scheduler; nothing runs before {@link start}. */
  constructor(runner: CronRunner) {
    this.#runner = runner;
  }

  /**
   * A deployment registered job `name` with `schedule` (a string or a `Deno.CronSchedule`):
   * kept when the schedule reads, logged as an error otherwise.
   */
  registered(deploymentId: string, name: string, schedule: unknown): void {
    // The record comes from the tenant's stdout, which it can write itself: the bootstrap's
    // checks (bootstrap.js `Deno.cron`) are repeated here, and the host's database keeps a
    // bounded number of bounded rows per deployment.
    if (typeof name !== "string" || name.length === 0 || name.length > MAX_CRON_NAME_LENGTH) {
      return;
    }
    let text: string;
    try {
      text = scheduleText(schedule);
      if (text.length > MAX_CRON_SCHEDULE_LENGTH) throw new SyntaxError("the schedule is too long");
      parseCron(text);
    } catch (error) {
      const message = `Deno.cron("${name}"): ${(error as Error).message}`;
      this.#runner.log(deploymentId, "error", message);
      // Bounded: a tenant can write such records itself, and a started one's are never asked for.
      if (this.#refused.size >= MAX_REFUSALS_KEPT) this.#refused.clear();
      this.#refused.set(deploymentId, message.slice(0, 512));
      return;
    }
    const jobs = cronsOf(this.#runner.store, deploymentId);
    if (jobs.length >= MAX_CRONS_PER_DEPLOYMENT && !jobs.some((job) => job.name === name)) {
      this.#runner.log(
        deploymentId,
        "error",
        `Deno.cron("${name}"): a deployment registers at most ${MAX_CRONS_PER_DEPLOYMENT} jobs`,
      );
      return;
    }
    recordCron(this.#runner.store, { deploymentId, name, schedule: text });
  }

  /**
   * Why a job `deploymentId` registered was refused (its schedule does not read), if one was;
   * forgotten once asked. On Deploy `Deno.cron` throws at registration, so the build fails.
   */
  takeRefusal(deploymentId: string): string | undefined {
    const refusal = this.#refused.get(deploymentId);
    this.#refused.delete(deploymentId);
    return refusal;
  }

  /** Checks the schedules at the start of every minute. */
  start(): void {
    const now = (this.#runner.now ?? Date.now)();
    const timer = setTimeout(() => {
      this.tick();
      this.start();
    }, 60_000 - (now % 60_000) + 50) as unknown as number;
    // The host's shutdown does not wait for the next minute.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Stops checking. */
  stop(): void {
    clearTimeout(this.#timer);
  }

  /** Runs the jobs due in the current minute (once per minute, whoever calls). */
  tick(): Promise<void>[] {
    const now = new Date((this.#runner.now ?? Date.now)());
    const minute = Math.floor(now.getTime() / 60_000);
    if (minute === this.#lastMinute) return [];
    this.#lastMinute = minute;
    const { store, baseDomain } = this.#runner;
    const runs: Promise<void>[] = [];
    for (const job of runnableCrons(store)) {
      const record = store.getDeploymentRecord(job.deploymentId);
      if (!record || !isProduction(record, baseDomain)) continue;
      if (!parseCron(job.schedule).matches(now)) continue;
      const key = `${job.deploymentId}/${job.name}`;
      // A job whose start (maybe a cold start) is still under way is not started twice.
      if (this.#running.has(key)) continue;
      this.#running.add(key);
      runs.push(
        this.#runner.run(job.deploymentId, job.name)
          .catch((error) =>
            this.#runner.log(
              job.deploymentId,
              "error",
              `cron job "${job.name}" could not start: ${(error as Error).message.split("\n")[0]}`,
            )
          )
          .finally(() => this.#running.delete(key)),
      );
    }
    return runs;
  }
}
