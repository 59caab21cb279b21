/**
 * `Deno.cron` as on Deploy: schedules read as cron does; through a real host a current
 * (production) deployment's job runs at the next minute it matches, its start and end in the
 * app logs, even when its process was not running; a deployment that is not current runs
 * nothing; a v1 deployment without `enableCron` that registers a job fails its build.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAX_CRONS_PER_DEPLOYMENT } from "../host/tenant/cron.ts";
import { parseCron, scheduleText } from "../host/tenant/cron_schedule.ts";
import { cronsOf } from "../host/store/crons.ts";
import { Store } from "../host/store/store.ts";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { waitFor } from "./helpers/wait_for.ts";
import { type ApiHost, ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";

Deno.test("cron schedules match the minutes cron would run them", () => {
  const at = (iso: string) => new Date(iso);
  assert.ok(parseCron("* * * * *").matches(at("2026-12-06T03:04:00Z")));
  assert.ok(parseCron("*/15 * * * *").matches(at("2026-12-06T03:45:10Z")));
  assert.ok(!parseCron("*/15 * * * *").matches(at("2026-12-06T03:46:00Z")));
  assert.ok(parseCron("30 9 * * MON-FRI").matches(at("2026-12-07T09:30:00Z")), "a Monday");
  assert.ok(!parseCron("30 9 * * MON-FRI").matches(at("2026-12-06T09:30:00Z")), "a Sunday");
  assert.ok(parseCron("0 0 1 JAN *").matches(at("2027-01-01T00:00:00Z")));
  assert.ok(parseCron("0 12 * * 7").matches(at("2026-12-06T12:00:00Z")), "7 is Sunday");
  // Both day fields restricted: either one.
  assert.ok(parseCron("0 0 13 * FRI").matches(at("2026-12-11T00:00:00Z")), "a Friday");
  assert.ok(parseCron("0 0 13 * FRI").matches(at("2026-12-13T00:00:00Z")), "the 13th");
  for (
    const bad of ["* * * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "5-1 * * * *", "x * * * *"]
  ) {
    assert.throws(() => parseCron(bad), SyntaxError, bad);
  }
  assert.equal(scheduleText({ minute: { every: 5 } }), "*/5 * * * *");
  assert.equal(scheduleText({ hour: { exact: [1, 13] }, minute: { exact: 0 } }), "0 1,13 * * *");
});

Deno.test("an object schedule reads as Deno.cron reads it: a start alone runs to the field's end", () => {
  // Deno's own conversion (ext/cron/01_cron.ts), whatever the field.
  assert.equal(scheduleText({ hour: { start: 8, every: 2 } }), "* 8/2 * * *");
  assert.equal(scheduleText({ hour: { start: 8 } }), "* 8/1 * * *");
  assert.equal(scheduleText({ dayOfMonth: { start: 10, end: 20 } }), "* * 10-20 * *");
  assert.equal(scheduleText({ minute: { start: 1, end: 5, every: 2 } }), "1-5/2 * * * *");
  for (const spec of [{ dayOfMonth: { end: 5 } }, { hour: { end: 5, every: 2 } }, { hour: {} }]) {
    assert.throws(() => scheduleText(spec), TypeError, JSON.stringify(spec));
  }
  // Each reads, and runs when Deno's would.
  const at = (iso: string) => new Date(iso);
  const everyOtherHour = parseCron(scheduleText({ hour: { start: 8, every: 2 } }));
  assert.ok(everyOtherHour.matches(at("2026-12-06T22:17:00Z")));
  assert.ok(!everyOtherHour.matches(at("2026-12-06T07:17:00Z")));
  assert.ok(!everyOtherHour.matches(at("2026-12-06T09:17:00Z")));
});

/** Creates project `name` and a v1 deployment of `main` in it. */
async function deploy(
  api: ApiHost,
  name: string,
  main: string,
  extra: Record<string, unknown> = {},
): Promise<{ id: string; status: string }> {
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name },
  });
  const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.ts",
      envVars: {},
      assets: { "main.ts": { kind: "file", content: main } },
      ...extra,
    },
  });
  const id = String(deployment.id);
  return { id, status: await waitForBuild(api, id) };
}

async function messages(api: ApiHost, id: string): Promise<string[]> {
  const lines = await ok<{ message: string }[]>(
    api,
    "GET",
    `/v1/deployments/${id}/app_logs?since=2000-01-01T00:00:00Z&limit=1000`,
  );
  return lines.map((line) => line.message);
}

const JOB = (tag: string) =>
  `Deno.cron("tick", "* * * * *", () => console.log("ticked ${tag}"));
Deno.serve(() => new Response("ok"));
`;

Deno.test("a current deployment's Deno.cron job runs on its schedule, started if need be", async () => {
  await using api = await startApiHost({ idleTimeoutMs: 1_000 });
  // Not enabled on v1: registering a job fails the build, saying how to enable it.
  const disabled = await deploy(api, "cron-off", JOB("off"));
  assert.equal(disabled.status, "failed");
  const log = await ok<{ message: string }[]>(
    api,
    "GET",
    `/v1/deployments/${disabled.id}/build_logs`,
  );
  assert.ok(log.some((l) => /cron is not enabled/.test(l.message)), JSON.stringify(log));

  // Enabled but not in production: its jobs never run.
  const preview = await deploy(api, "cron-preview", JOB("preview"), { enableCron: true });
  assert.equal(preview.status, "success");
  // Enabled and in production (the project's own name): runs every minute.
  const current = await deploy(api, "cron-prod", JOB("prod"), {
    enableCron: true,
    domains: ["{project.name}.localhost", "{project.name}-{deployment.id}.localhost"],
  });
  assert.equal(current.status, "success");
  const build = await ok<{ message: string }[]>(
    api,
    "GET",
    `/v1/deployments/${current.id}/build_logs`,
  );
  assert.ok(build.some((l) => l.message === "Cron jobs: tick (* * * * *)"), JSON.stringify(build));

  // Its process stops when idle (1 s here): the job starts it again at the minute.
  const deadline = Date.now() + 75_000;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = await messages(api, current.id);
    if (seen.some((m) => /cron job "tick" finished/.test(m))) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.ok(seen.includes("ticked prod"), seen.join("\n"));
  assert.ok(seen.some((m) => m === 'cron job "tick" started'), seen.join("\n"));
  assert.ok(
    !(await messages(api, preview.id)).includes("ticked preview"),
    "not current: never ran",
  );
});

/** Writes the bootstrap's cron records itself: many names, and names far past 64 characters. */
const FORGED_CRONS = `
const encoder = new TextEncoder();
const record = (name) => encoder.encode("\\x1e" + JSON.stringify({ cron: { name, schedule: "* * * * *" } }) + "\\n");
export default {
  fetch() {
    for (let i = 0; i < 100; i++) Deno.stdout.writeSync(record("job" + i));
    Deno.stdout.writeSync(record("n".repeat(50_000)));
    Deno.stdout.writeSync(record(""));
    return new Response("written");
  },
};
`;

Deno.test("cron records a tenant forges on stdout are held to Deno.cron's limits", async () => {
  await using api = await startApiHost();
  const forged = await deploy(api, "cron-forged", FORGED_CRONS, { enableCron: true });
  assert.equal(forged.status, "success");
  const url = `http://cron-forged-${forged.id}.localhost:${api.host.port}/`;
  assert.equal(await (await invoke(url)).text(), "written");
  closeInvokeClients();
  const refused = `a deployment registers at most ${MAX_CRONS_PER_DEPLOYMENT} jobs`;
  await waitFor(async () => (await messages(api, forged.id)).some((m) => m.includes(refused)));
  const store = Store.open(join(api.host.dataDir, "host.db"));
  try {
    const jobs = cronsOf(store, forged.id);
    assert.equal(jobs.length, MAX_CRONS_PER_DEPLOYMENT);
    assert.ok(jobs.every((job) => job.name.length >= 1 && job.name.length <= 64));
  } finally {
    store.close();
  }
});
