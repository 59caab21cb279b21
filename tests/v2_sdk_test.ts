/**
 * A client we did not write: the official Deploy v2 SDK (`Client` of `@deno/sandbox`) runs
 * unchanged against a real local host — apps, deploy, progress, revisions, timelines,
 * layers, logs — and the app answers at the host name the revision reports.
 */
import assert from "node:assert/strict";
import { Client } from "@deno/sandbox";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { startTestHost } from "./helpers/host.ts";
import { rejection } from "./helpers/rejection.ts";

const HELLO = `Deno.serve((req) => new Response(
  JSON.stringify({ greeting: Deno.env.get("GREETING") ?? null, key: Deno.env.get("API_KEY") ?? null }),
));
`;

Deno.test("the official v2 SDK drives the local host unchanged", async (t) => {
  const host = await startTestHost();
  const origin = new URL(host.apiUrl).origin;
  const client = new Client({ token: host.token, apiEndpoint: origin });
  const call = async (hostname: string) => {
    const response = await invoke(`http://${hostname}:${host.port}/`);
    assert.equal(response.status, 200, hostname);
    return await response.json();
  };
  try {
    const app = await client.apps.create({
      slug: "sdk-hooks",
      labels: { "custom.customer_id": "cus_42" },
      config: { runtime: { type: "dynamic", entrypoint: "main.ts" } },
    });
    let hostname = "";

    await t.step(
      "create an app, deploy, follow progress to the end, read the revision",
      async () => {
        assert.equal(app.slug, "sdk-hooks");
        assert.deepEqual(app.labels, { "custom.customer_id": "cus_42" });
        const revision = await client.apps.deploy(app.slug, {
          assets: { "main.ts": { kind: "file", content: HELLO } },
          env_vars: [{ key: "GREETING", value: "from the revision" }],
        });
        assert.ok(["queued", "building"].includes(revision.status), revision.status);
        const events = [];
        for await (const progress of client.revisions.progress(revision.id)) events.push(progress);
        assert.ok(events.length >= 1);
        assert.equal(events.at(-1)!.building.status, "succeeded", JSON.stringify(events.at(-1)));
        const built = (await client.revisions.get(revision.id))!;
        assert.equal(built.status, "succeeded");
        assert.equal(built.failure_reason, null);
        // Deploy's revision also names its hosts (a field this SDK version does not type).
        const named =
          (built as unknown as { timelines: { context: string; hostnames: string[] }[] })
            .timelines.find((timeline) => timeline.context === "production");
        assert.deepEqual(named?.hostnames, ["sdk-hooks.local.localhost"]);
        const timelines = await client.revisions.timelines(revision.id);
        const production = timelines.find((timeline) => timeline.slug === "production");
        assert.deepEqual(production?.domains, [{ domain: "sdk-hooks.local.localhost" }]);
        hostname = production!.domains[0].domain;
        assert.deepEqual(await call(hostname), { greeting: "from the revision", key: null });
      },
    );

    await t.step(
      "a layer's and the app's variables reach the running app, no redeploy",
      async () => {
        const layer = await client.layers.create({
          slug: "platform-shared",
          env_vars: [{ key: "API_KEY", value: "k1", secret: true }],
        });
        assert.equal(layer.env_vars[0].value, undefined, "a secret's value is never sent back");
        await client.apps.update(app.slug, { layers: [layer.slug] });
        assert.deepEqual(await call(hostname), { greeting: "from the revision", key: "k1" });
        await client.layers.update(layer.slug, { env_vars: [{ key: "API_KEY", value: "k2" }] });
        assert.deepEqual(await call(hostname), { greeting: "from the revision", key: "k2" });
        // The revision's own variables win over the app's, which win over the layer's.
        await client.apps.update(app.slug, {
          env_vars: [{ key: "API_KEY", value: "app" }, { key: "GREETING", value: "app" }],
        });
        assert.deepEqual(await call(hostname), { greeting: "from the revision", key: "app" });
        const using = await client.layers.apps(layer.slug);
        assert.deepEqual(using.items.map((a) => a.slug), ["sdk-hooks"]);
        const deleting = await rejection(client.layers.delete(layer.slug));
        assert.equal((deleting as { status?: number }).status, 409, String(deleting));
      },
    );

    await t.step("list revisions and apps by label, read logs, delete", async () => {
      const second = await client.apps.deploy(app.slug, {
        assets: { "main.ts": { content: `console.log("booted"); ${HELLO}` } },
        production: false,
      });
      for await (const _ of client.revisions.progress(second.id)) { /* to the end */ }
      const revisions = await client.revisions.list(app.slug);
      assert.equal(revisions.items[0].id, second.id, "newest first");
      assert.equal(revisions.items.length, 2);
      const succeeded = await client.revisions.list(app.slug, { status: "succeeded" });
      assert.equal(succeeded.items.length, 2);
      const byLabel = await client.apps.list({ labels: { "custom.customer_id": "cus_42" } });
      assert.deepEqual(byLabel.items.map((a) => a.slug), ["sdk-hooks"]);
      const none = await client.apps.list({ labels: { "custom.customer_id": "cus_7" } });
      assert.deepEqual(none.items, []);
      const logs = await client.apps.logs(app.slug, {
        start: new Date(Date.now() - 60_000).toISOString(),
        end: new Date(Date.now() + 1_000).toISOString(),
        revision_id: second.id,
      });
      assert.ok(
        logs.items.some((line) => line.message === "booted" && line.revision_id === second.id),
        JSON.stringify(logs.items),
      );
      // Production is still the first revision: the second was deployed with production false.
      assert.deepEqual(await call(hostname), { greeting: "from the revision", key: "app" });
      await client.revisions.delete(second.id);
      await client.apps.update(app.slug, { layers: [] });
      await client.layers.delete("platform-shared");
      await client.apps.delete(app.slug);
      assert.equal(await client.apps.get(app.slug), null, "the SDK reads a 404 as null");
    });

    await t.step("X-Deno-Org may name the organization; another one is refused", async () => {
      const named = new Client({ token: host.token, org: "local", apiEndpoint: origin });
      assert.ok(Array.isArray((await named.apps.list()).items));
      const other = new Client({ token: host.token, org: "someone-else", apiEndpoint: origin });
      const refused = await rejection(other.apps.list());
      assert.equal((refused as { status?: number }).status, 403);
    });
  } finally {
    closeInvokeClients();
    await host.stop();
  }
});
