/**
 * A `Deno.cron` job that throws is tried again after each delay of its `backoffSchedule`
 * (Deno's default: 100 ms, 1 s, 5 s, 30 s, 60 s), and `Deno.cron` refuses at registration what
 * Deno refuses: a name with other characters than letters, digits, spaces, `-` and `_`, and a
 * backoff schedule of more than 5 delays or a delay over an hour. A schedule that does not read
 * fails the build, as Deno's throw at registration fails the deployment's start on Deploy.
 */
import assert from "node:assert/strict";
import { deployModule, ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";
import { rawGet } from "./helpers/raw_http.ts";

const FLAKY = `let runs = 0;
Deno.cron("flaky", "* * * * *", { backoffSchedule: [100, 200, 300] }, () => {
  runs++;
  console.log("run " + runs);
  if (runs < 3) throw new Error("not yet " + runs);
});
Deno.serve(() => new Response("ok"));
`;

async function messages(api: Awaited<ReturnType<typeof startApiHost>>, id: string) {
  const lines = await ok<{ message: string }[]>(
    api,
    "GET",
    `/v1/deployments/${id}/app_logs?since=2000-01-01T00:00:00Z&limit=1000`,
  );
  return lines.map((line) => line.message);
}

Deno.test("a cron job that throws runs again after each delay of its backoffSchedule", async () => {
  await using api = await startApiHost();
  const { id } = await deployModule(api, "cron-flaky", FLAKY, {
    enableCron: true,
    domains: ["{project.name}.localhost", "{project.name}-{deployment.id}.localhost"],
  });
  const deadline = Date.now() + 75_000;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = await messages(api, id);
    if (seen.some((m) => /cron job "flaky" finished/.test(m))) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const runs = seen.filter((m) => /^run \d$/.test(m)).sort();
  assert.deepEqual(runs, ["run 1", "run 2", "run 3"], seen.join("\n"));
  assert.equal(seen.filter((m) => m.startsWith('cron job "flaky" failed')).length, 2);
});

Deno.test("Deno.cron refuses at registration a name or a backoffSchedule Deno refuses", async () => {
  await using api = await startApiHost();
  for (
    const [registration, error] of [
      [`"nightly:cleanup", "0 3 * * *"`, "Invalid cron name"],
      [
        `"retries", "0 3 * * *", { backoffSchedule: [1, 2, 3, 4, 5, 6] }`,
        "Invalid backoff schedule",
      ],
      [`"slow", "0 3 * * *", { backoffSchedule: [3_600_001] }`, "Invalid backoff schedule"],
    ]
  ) {
    const code = `let error = "none";
try { Deno.cron(${registration}, () => {}); } catch (e) { error = e.name + ": " + e.message; }
Deno.serve(() => new Response(error));
`;
    const name = `cron-refused-${error.length}-${registration.length}`;
    const { host } = await deployModule(api, name, code, { enableCron: true });
    const { body: text } = await rawGet(api.host.port, host);
    assert.ok(text.startsWith(`TypeError: ${error}`), `${registration}: ${text}`);
  }
});

Deno.test("a Deno.cron schedule that does not read fails the build, naming the job", async () => {
  await using api = await startApiHost();
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "cron-unreadable" },
  });
  for (const schedule of [`"61 * * * *"`, `{ dayOfMonth: { end: 5 } }`]) {
    const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
      json: {
        entryPointUrl: "main.ts",
        envVars: {},
        enableCron: true,
        assets: {
          "main.ts": {
            kind: "file",
            content: `Deno.cron("report", ${schedule}, () => {});
Deno.serve(() => new Response("ok"));
`,
          },
        },
      },
    });
    const id = String(deployment.id);
    assert.equal(await waitForBuild(api, id), "failed", schedule);
    const log = await ok<{ message: string }[]>(api, "GET", `/v1/deployments/${id}/build_logs`);
    assert.ok(
      log.some((line) => /Deno\.cron\("report"\): Invalid cron schedule/.test(line.message)),
      JSON.stringify(log),
    );
  }
});
