/**
 * A page of an app's revisions costs the host what the page holds, not what the app holds: the
 * list read every revision of the app (with its variables and settings) for every page, so an
 * organization with many revisions held the host's event loop (the API for everyone, and every
 * tenant's requests without HAProxy) for most of a second per request.
 *
 * The measure is relative, taken in the same run: a page through the API against reading the
 * whole list from the store (what each page cost before), so that a slow machine fails neither.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ok, startApiHost } from "./helpers/api_host.ts";
import { Store } from "../host/store/store.ts";
import { listLayers } from "../host/store/layers.ts";
import { bareDeployment } from "./helpers/store.ts";

Deno.test("a page of an app's revisions is read from the store a page at a time", async () => {
  await using api = await startApiHost({ warmPool: 0 });
  const app = await ok(api, "POST", "/v2/apps", { json: { slug: "many" } });
  // Revisions written straight into the store: 40 000 builds would take an hour here.
  const store = Store.open(join(api.host.dataDir, "host.db"));
  const ids: string[] = [];
  let wholeList: number;
  try {
    store.transaction(() => {
      for (let i = 0; i < 40_000; i++) {
        const deployment = bareDeployment(String(app.id), { envVars: { A: "x".repeat(100) } });
        ids.push(deployment.id);
        store.createDeployment(deployment);
      }
    });
    store.setDeploymentStatus(ids[ids.length - 3], "failed");
    wholeList = fastest(3, () => {
      store.listDeployments(String(app.id), {
        page: 1,
        limit: 40_000,
        sort: "created_at",
        order: "desc",
      });
    });
  } finally {
    store.close();
  }
  const timed = async (path: string) => {
    const started = performance.now();
    const response = await api.request("GET", path);
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    return { body, ms: performance.now() - started, link: response.headers.get("link") };
  };
  await timed("/v2/apps/many/revisions?limit=1"); // the first request warms up the route
  let slowest = 0;
  for (let i = 0; i < 3; i++) {
    slowest = Math.max(slowest, (await timed("/v2/apps/many/revisions?limit=1")).ms);
  }
  // 850 ms each with 20 000 before, reading all 40 000: at least the whole list's read.
  assert.ok(
    slowest < wholeList / 4,
    `a page of 1 of 40 000 revisions took ${slowest.toFixed(0)} ms, ` +
      `reading all of them ${wholeList.toFixed(0)} ms`,
  );
  // The app's timelines are where its production names are: 700 ms with 20 000 before.
  await timed("/v2/apps/many/timelines");
  const timelines = await timed("/v2/apps/many/timelines");
  assert.deepEqual(timelines.body, []);
  assert.ok(
    timelines.ms < wholeList / 4,
    `the timelines took ${timelines.ms.toFixed(0)} ms, the whole list ${wholeList.toFixed(0)} ms`,
  );

  // Newest first, by cursor, and filtered by status, as before.
  const first = await timed("/v2/apps/many/revisions?limit=2");
  assert.deepEqual(first.body.map((r: { id: string }) => r.id), [ids[39_999], ids[39_998]]);
  const next = first.link?.match(/<([^>]+)>; rel="next"/)?.[1];
  assert.ok(next);
  const second = await timed(new URL(next).pathname + new URL(next).search);
  assert.deepEqual(second.body.map((r: { id: string }) => r.id), [ids[39_997], ids[39_996]]);
  const failed = await timed("/v2/apps/many/revisions?status=failed");
  assert.deepEqual(failed.body.map((r: { id: string }) => r.id), [ids[39_997]]);
  assert.equal(failed.link, null);
  // The app's past logs: more revisions than SQLite takes parameters were a 500.
  const logs = await timed(
    "/v2/apps/many/logs?start=2020-01-01T00:00:00Z&end=2100-01-01T00:00:00Z",
  );
  assert.deepEqual(logs.body, { logs: [], next_cursor: null });
  const queued = await timed("/v2/apps/many/revisions?status=queued&limit=100");
  assert.equal(queued.body.length, 100);
  assert.ok(queued.link);
});

Deno.test("a page of layers is read from the store a page at a time", async () => {
  // A layer holds up to 512 KiB of variables and an organization up to 1 000 layers: the list
  // parsed every layer's variables for every page (200 such layers: ~450 ms a request).
  await using api = await startApiHost({ warmPool: 0 });
  const envVars = Array.from({ length: 8 }, (_, i) => ({
    key: `K${i}`,
    value: "v".repeat(64 * 1024 - 16),
  }));
  for (let i = 0; i < 200; i++) {
    await ok(api, "POST", "/v2/layers", { json: { slug: `layer-${i}`, env_vars: envVars } });
  }
  await ok(api, "POST", "/v2/layers", { json: { slug: "other-name" } });
  let slowest = 0;
  for (let i = 0; i < 4; i++) {
    const started = performance.now();
    const response = await api.request("GET", "/v2/layers?limit=1");
    await response.text();
    slowest = i === 0 ? 0 : Math.max(slowest, performance.now() - started);
  }
  // What each page cost before: every layer read, variables and all.
  const store = Store.open(join(api.host.dataDir, "host.db"));
  let wholeList: number;
  try {
    const { organization_id } = store.database.prepare("SELECT organization_id FROM layers")
      .get() as { organization_id: string };
    wholeList = fastest(3, () => listLayers(store, organization_id));
  } finally {
    store.close();
  }
  assert.ok(
    slowest < wholeList / 4,
    `a page of 1 of 200 layers took ${slowest.toFixed(0)} ms, all of them ${
      wholeList.toFixed(0)
    } ms`,
  );

  // Oldest first, by cursor, and by search, as before.
  const page = async (path: string) => {
    const response = await api.request("GET", path);
    const body = await response.json();
    return {
      slugs: body.map((layer: { slug: string }) => layer.slug),
      next: response.headers.get("link")?.match(/<([^>]+)>; rel="next"/)?.[1],
    };
  };
  const first = await page("/v2/layers?limit=2");
  assert.deepEqual(first.slugs, ["layer-0", "layer-1"]);
  assert.ok(first.next);
  const next = new URL(first.next);
  assert.deepEqual((await page(next.pathname + next.search)).slugs, ["layer-2", "layer-3"]);
  const found = await page("/v2/layers?search=OTHER");
  assert.deepEqual(found.slugs, ["other-name"]);
  assert.equal(found.next, undefined);
});

/** The fastest of `runs` runs of `work`, in ms. */
function fastest(runs: number, work: () => void): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    work();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}
