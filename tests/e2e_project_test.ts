/**
 * `project …` against a real local host, run as a subprocess like a user's shell does.
 */
import assert from "node:assert/strict";
import { describe, jsonOf, runCli, startTestHost } from "./helpers/host.ts";
import type { Project } from "../lib/types.ts";

Deno.test("project create, list, show, rename and delete", async (t) => {
  const host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  try {
    let acme: Project;
    await t.step("create prints the project", async () => {
      const human = await cli("project", "create", "acme-crm", "--description", "Acme's hooks");
      assert.equal(human.code, 0, describe(human));
      assert.match(human.stdout, /Created project acme-crm \([0-9a-f-]{36}\)/);

      acme = jsonOf<Project>(await cli("project", "show", "acme-crm", "--json"));
      assert.equal(acme.name, "acme-crm");
      assert.equal(acme.description, "Acme's hooks");

      const globex = jsonOf<Project>(await cli("project", "create", "globex", "--json"));
      assert.equal(globex.name, "globex");
    });

    await t.step("a duplicate name is a conflict (exit 5)", async () => {
      const result = await cli("project", "create", "acme-crm");
      assert.equal(result.code, 5, describe(result));
      assert.match(result.stderr, /^error: /m);
    });

    await t.step("list shows every project, as a table or JSON", async () => {
      const table = await cli("project", "list");
      assert.equal(table.code, 0, describe(table));
      assert.match(table.stdout, /^NAME\s+ID\s+UPDATED/m);
      assert.match(table.stdout, /^acme-crm\s/m);
      assert.match(table.stdout, /^globex\s/m);

      const list = jsonOf<Project[]>(await cli("project", "list", "--json"));
      assert.deepEqual(list.map((p) => p.name).sort(), ["acme-crm", "globex"]);
    });

    await t.step("show finds a project by name or id", async () => {
      const byId = jsonOf<Project>(await cli("project", "show", acme.id, "--json"));
      assert.equal(byId.name, "acme-crm");
      const human = await cli("project", "show", "acme-crm");
      assert.match(human.stdout, new RegExp(`^id:\\s+${acme.id}$`, "m"));
    });

    await t.step("rename changes the name, keeping the id", async () => {
      const renamed = jsonOf<Project>(
        await cli("project", "rename", "acme-crm", "acme-crm-eu", "--json"),
      );
      assert.equal(renamed.id, acme.id);
      assert.equal(renamed.name, "acme-crm-eu");
      const old = await cli("project", "show", "acme-crm");
      assert.equal(old.code, 4, describe(old));
    });

    await t.step("an unknown project exits 4, with a JSON error under --json", async () => {
      const result = await cli("project", "show", "no-such-project", "--json");
      assert.equal(result.code, 4, describe(result));
      assert.equal(result.stdout, "");
      const { error } = JSON.parse(result.stderr);
      assert.equal(error.code, "projectNotFound");
      assert.equal(typeof error.message, "string");
      assert.ok(error.message.includes("no-such-project"));
    });

    await t.step("delete needs --yes off a terminal, then deletes", async () => {
      const refused = await cli("project", "delete", "globex");
      assert.equal(refused.code, 2, describe(refused));

      const deleted = await cli("project", "delete", "globex", "--yes");
      assert.equal(deleted.code, 0, describe(deleted));
      assert.match(deleted.stdout, /Deleted project globex/);

      const nonInteractive = await cli("project", "delete", "acme-crm-eu", "-y", "--json");
      assert.equal(nonInteractive.code, 0, describe(nonInteractive));
      assert.equal(jsonOf<{ deleted: boolean }>(nonInteractive).deleted, true);

      assert.deepEqual(jsonOf(await cli("project", "list", "--json")), []);
      const gone = await cli("project", "delete", "globex", "--yes");
      assert.equal(gone.code, 4, describe(gone));
    });

    await t.step("a wrong token exits 3 and is not printed", async () => {
      const result = await runCli(["project", "list"], {
        env: { ...host.env, DEPLOY_ACCESS_TOKEN: "wrong-token-123" },
      });
      assert.equal(result.code, 3, describe(result));
      assert.match(result.stderr, /^hint: /m);
      assert.ok(!result.stderr.includes("wrong-token-123"));
      assert.ok(!result.stderr.includes(host.token));
    });
  } catch (error) {
    console.error(`--- host output\n${host.output()}`);
    throw error;
  } finally {
    await host.stop();
  }

  await t.step("once the host is down, commands exit 6", async () => {
    const result = await runCli(["project", "list"], { env: host.env });
    assert.equal(result.code, 6, describe(result));
    assert.match(result.stderr, /Could not reach/);
  });
});
