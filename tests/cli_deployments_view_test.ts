/**
 * `deployments list` and `show` as a person reads them on a terminal: which deployment is
 * production, the project by name, times short; `--json` unchanged.
 */
import assert from "node:assert/strict";
import { jsonOf, runCliOk, startTestHost, writeApp } from "./helpers/host.ts";
import { requires } from "./helpers/programs.ts";
import { runInTerminal } from "./helpers/terminal.ts";
import type { Deployment } from "../lib/types.ts";
import { formatTime } from "../lib/output.ts";

Deno.test("formatTime is short, in UTC, to the minute; anything else is left alone", () => {
  assert.equal(formatTime("2026-12-07T01:55:27.263000Z"), "2026-12-07 01:55 UTC");
  assert.equal(formatTime("2026-12-07T03:55:27+02:00"), "2026-12-07 01:55 UTC");
  assert.equal(formatTime("never"), "never");
});

Deno.test(requires(["script"], {
  name: "deployments list marks production; show names the project; times are short on a TTY",
  async fn() {
    await using host = await startTestHost();
    const cli = (...args: string[]) => runCliOk(args, { env: host.env });
    const onTerminal = async (...args: string[]) => {
      const { code, screen } = await runInTerminal(args, { env: host.env }).finish();
      assert.equal(code, 0, screen);
      return screen;
    };
    const app = await writeApp(host, "app", "export default { fetch: () => new Response() };");
    const prod = jsonOf<Deployment>(
      await cli("deploy", app, "-p", "viewer", "--create", "--prod", "--json"),
    );
    const other = jsonOf<Deployment>(await cli("deploy", app, "-p", "viewer", "--json"));

    const list = await onTerminal("deployments", "list", "viewer");
    const row = (id: string) => list.split("\n").find((line) => line.startsWith(id)) ?? "";
    assert.match(
      row(prod.id),
      /^\w+ +success production +\d{4}-\d\d-\d\d \d\d:\d\d UTC +http/,
      list,
    );
    assert.match(row(other.id), /^\w+ +success +\d{4}-\d\d-\d\d \d\d:\d\d UTC +http/, list);
    assert.doesNotMatch(list, /\d\dT\d\d:\d\d/, "no raw timestamps");

    const show = await onTerminal("deployments", "show", prod.id);
    assert.match(show, /^project: +viewer \([0-9a-f-]{36}\)$/m, show);
    assert.match(show, /^status: +success production$/m, show);
    assert.match(show, /^created: +\d{4}-\d\d-\d\d \d\d:\d\d UTC$/m, show);

    // Scripts keep the API's own objects and times.
    const json = jsonOf<Deployment[]>(await cli("deployments", "list", "viewer", "--json"));
    assert.equal(json[0].createdAt, prod.createdAt);
    assert.match(json[0].createdAt, /T\d\d:\d\d:\d\d/);
    const shown = jsonOf<Deployment>(await cli("deployments", "show", prod.id, "--json"));
    assert.equal(shown.projectId, prod.projectId);
  },
}));
