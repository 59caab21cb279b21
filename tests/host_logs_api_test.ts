/**
 * `GET /deployments/{id}/app_logs` and the analytics endpoints over real HTTP, with the app
 * logs and usage written directly (the runtime that feeds them is tested end to end).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AppLogs } from "../host/tenant/app_logs.ts";
import { createApi } from "../host/api/mod.ts";
import { BlobStore } from "../host/store/blobs.ts";
import { newDeploymentId, newToken } from "../host/store/ids.ts";
import { Store } from "../host/store/store.ts";
import { UsageMeter } from "../host/tenant/usage.ts";
import { MAX_LIVE_STREAMS_PER_ORGANIZATION } from "../host/api/live_streams.ts";
import { bareDeployment } from "./helpers/store.ts";
import { ndjson, parseLinkHeader } from "../lib/http.ts";
import type { Analytics, AppLogEntry } from "../lib/types.ts";

async function startHost(logOptions: ConstructorParameters<typeof AppLogs>[1] = {}) {
  const dir = await Deno.makeTempDir({ prefix: "host_logs_api_test_" });
  const store = Store.open(join(dir, "host.sqlite"));
  const org = store.ensureOrganization("acme");
  const token = newToken();
  store.setToken(org.id, token);
  const project = store.createProject(org.id, { name: "logs-api", description: "" });
  const deployment = bareDeployment(project.id);
  store.createDeployment(deployment);
  // A deployment of another organization, which this token must not see.
  const other = store.createOrganization("other");
  const otherProject = store.createProject(other.id, { name: "not-yours", description: "" });
  const appLogs = new AppLogs(store, { sweepIntervalMs: 0, ...logOptions });
  const usage = new UsageMeter(store, { flushIntervalMs: 0 });
  const app = createApi(store, new BlobStore(join(dir, "blobs")), {
    baseDomain: "localhost",
    deploymentCreated() {},
    deploymentDeleted: () => Promise.resolve(),
  }, { appLogs, usage });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}/v1`;
  return {
    url,
    org,
    project,
    otherProject,
    deploymentId: deployment.id,
    appLogs,
    usage,
    get(path: string, accept = "application/json", signal?: AbortSignal): Promise<Response> {
      const target = path.startsWith("http") ? path : `${url}${path}`;
      return fetch(target, { headers: { authorization: `Bearer ${token}`, accept }, signal });
    },
    async [Symbol.asyncDispose]() {
      appLogs.end();
      await server.shutdown();
      appLogs.close();
      usage.close();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function errorCode(response: Response): Promise<[number, string]> {
  if (response.bodyUsed) return [response.status, "(a stream)"];
  return [response.status, (await response.json()).code];
}

/** Cancels the body of a stream that was not expected, so a failing test does not hang on it. */
function cancelled(response: Response): AbortController {
  const abort = new AbortController();
  response.body?.cancel();
  return abort;
}

Deno.test("past app logs: filters, Link cursor pages, NDJSON and region local", async () => {
  await using host = await startHost();
  const id = host.deploymentId;
  for (let i = 0; i < 5; i++) host.appLogs.append(id, i % 2 ? "error" : "info", `line ${i}`);
  const since = "since=2000-01-01T00:00:00Z";

  const first = await host.get(`/deployments/${id}/app_logs?${since}&limit=2&order=asc`);
  assert.equal(first.status, 200);
  assert.match(first.headers.get("content-type") ?? "", /application\/json/);
  const page1: AppLogEntry[] = await first.json();
  assert.deepEqual(page1.map((entry) => entry.message), ["line 0", "line 1"]);
  assert.deepEqual(Object.keys(page1[0]).sort(), ["level", "message", "region", "time"]);
  assert.equal(page1[0].region, "local");
  const next = parseLinkHeader(first.headers.get("link")).next;
  assert.ok(next?.includes("cursor="), "a next page is linked");
  const page2: AppLogEntry[] = await (await host.get(next)).json();
  assert.deepEqual(page2.map((entry) => entry.message), ["line 2", "line 3"]);

  const all = await host.get(`/deployments/${id}/app_logs?${since}&limit=10`);
  assert.equal(all.headers.get("link"), null, "the last page links nothing");
  assert.deepEqual((await all.json() as AppLogEntry[]).map((entry) => entry.message), [
    "line 4",
    "line 3",
    "line 2",
    "line 1",
    "line 0",
  ]);

  const errors = await host.get(
    `/deployments/${id}/app_logs?${since}&level=error&q=LINE`,
    "application/x-ndjson",
  );
  assert.match(errors.headers.get("content-type") ?? "", /application\/x-ndjson/);
  const lines = await Array.fromAsync(ndjson<AppLogEntry>(errors.body!));
  assert.deepEqual(lines.map((entry) => entry.message), ["line 3", "line 1"]);

  const elsewhere = await host.get(`/deployments/${id}/app_logs?${since}&region=gcp-us-east1`);
  assert.deepEqual(await elsewhere.json(), []);
  const local = await host.get(`/deployments/${id}/app_logs?${since}&region=local,gcp-us-east1`);
  assert.equal((await local.json()).length, 5);
});

Deno.test("app logs: bad parameters are 400s, other organizations' deployments 404", async () => {
  await using host = await startHost();
  const base = `/deployments/${host.deploymentId}/app_logs?since=2000-01-01T00:00:00Z`;
  assert.deepEqual(await errorCode(await host.get(`${base}&level=fatal`)), [400, "invalidLevel"]);
  assert.deepEqual(await errorCode(await host.get(`${base}&limit=0`)), [400, "invalidLimit"]);
  assert.deepEqual(await errorCode(await host.get(`${base}&limit=10001`)), [400, "invalidLimit"]);
  assert.deepEqual(await errorCode(await host.get(`${base}&order=up`)), [400, "invalidOrder"]);
  assert.deepEqual(await errorCode(await host.get(`${base}&sort=level`)), [400, "invalidSort"]);
  assert.deepEqual(await errorCode(await host.get(`${base}&cursor=nope`)), [400, "invalidCursor"]);
  assert.deepEqual(
    await errorCode(await host.get(`/deployments/${host.deploymentId}/app_logs?until=yesterday`)),
    [400, "invalidTime"],
  );
  assert.equal((await host.get(`${base}&limit=10000&order=timeAsc`)).status, 200);
  assert.deepEqual(
    await errorCode(await host.get(`/deployments/${newDeploymentId()}/app_logs`)),
    [404, "deploymentNotFound"],
  );
});

Deno.test("live app logs stream as NDJSON until the client goes away", async () => {
  await using host = await startHost();
  const id = host.deploymentId;
  host.appLogs.append(id, "info", "before the stream: not sent");
  const abort = new AbortController();
  const response = await host.get(
    `/deployments/${id}/app_logs?level=warning,error`,
    "application/x-ndjson",
    abort.signal,
  );
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("link"), null);
  const lines = ndjson<AppLogEntry>(response.body!);
  host.appLogs.append(id, "info", "filtered out");
  host.appLogs.append(id, "warning", "live one");
  host.appLogs.append(id, "error", "live two");
  assert.equal((await lines.next()).value?.message, "live one");
  assert.equal((await lines.next()).value?.message, "live two");
  abort.abort();
  await lines.return(undefined).catch(() => {});
});

Deno.test("live app logs without NDJSON are one JSON array, closed when the stream ends", async () => {
  await using host = await startHost();
  const id = host.deploymentId;
  const response = await host.get(`/deployments/${id}/app_logs`);
  assert.match(response.headers.get("content-type") ?? "", /application\/json/);
  const text = response.text();
  // The subscription is made when the response starts: wait until it is live.
  await new Promise((resolve) => setTimeout(resolve, 50));
  host.appLogs.append(id, "info", "one");
  host.appLogs.append(id, "debug", "two");
  host.appLogs.end(id); // e.g. the deployment was deleted
  const entries: AppLogEntry[] = JSON.parse(await text);
  assert.deepEqual(entries.map((entry) => [entry.level, entry.message]), [
    ["info", "one"],
    ["debug", "two"],
  ]);
});

Deno.test("a live stream whose client does not read is ended at its backlog, not held in the host's memory", async () => {
  // A deployment may log 1 MiB/s; each live stream held every line its client had not read yet
  // in the host's heap, so a client that never reads (or a hundred of them on one chatty
  // deployment) grew the host without bound.
  await using host = await startHost({ maxBytesPerSecond: 1 << 30 });
  const id = host.deploymentId;
  const stalled = await host.get(`/deployments/${id}/app_logs`, "application/x-ndjson");
  const array = await host.get(`/deployments/${id}/app_logs`);
  await new Promise((resolve) => setTimeout(resolve, 50)); // subscribed once the response starts
  const line = "x".repeat(32 * 1024);
  for (let i = 0; i < 2048; i++) { // 64 MiB, with turns for the server to pull between
    host.appLogs.append(id, "info", line);
    if (i % 64 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const results: [boolean, number][] = [];
  for (const response of [stalled, array]) {
    const reader = response.body!.getReader();
    let bytes = 0;
    let ended = false;
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const next = await Promise.race([
        reader.read(),
        new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), 3_000)),
      ]);
      clearTimeout(timer);
      if (next === undefined) break; // nothing more for 3 s: still open
      if (next.done) {
        ended = true;
        break;
      }
      bytes += next.value.byteLength;
    }
    await reader.cancel().catch(() => {});
    results.push([ended, bytes]);
  }
  for (const [ended, bytes] of results) {
    assert.ok(
      ended && bytes < 16 * 1024 * 1024,
      `the host held ${(bytes / 1048576).toFixed(1)} MiB for a client that did not read ` +
        `(stream ${ended ? "ended" : "still open"})`,
    );
  }
  // A client that reads keeps up and stays subscribed.
  const abort = new AbortController();
  const reading = await host.get(
    `/deployments/${id}/app_logs`,
    "application/x-ndjson",
    abort.signal,
  );
  const lines = ndjson<AppLogEntry>(reading.body!);
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (let i = 0; i < 256; i++) {
    host.appLogs.append(id, "info", `${i} ${line.slice(16)}`);
    assert.ok((await lines.next()).value?.message.startsWith(`${i} x`));
  }
  abort.abort();
  await lines.return(undefined).catch(() => {});
});

Deno.test("a page of past logs is bounded in bytes whatever its limit; the cursor goes on", async () => {
  // 10 000 lines of 32 Ki control characters, escaped as JSON, were one 394 MiB answer built
  // in the host's memory for one request.
  await using host = await startHost({ maxBytesPerSecond: 1 << 30 });
  const id = host.deploymentId;
  const line = "\x01".repeat(32 * 1024 - 16);
  for (let i = 0; i < 300; i++) host.appLogs.append(id, "info", `${String(i).padStart(3)}${line}`);
  let next: string | undefined =
    `/deployments/${id}/app_logs?since=2000-01-01T00:00:00Z&limit=10000&order=asc`;
  const seen: string[] = [];
  let largest = 0;
  while (next) {
    const response = await host.get(next);
    const text = await response.text();
    largest = Math.max(largest, text.length);
    const entries: AppLogEntry[] = JSON.parse(text);
    seen.push(...entries.map((entry) => entry.message.slice(0, 3).trim()));
    next = parseLinkHeader(response.headers.get("link") ?? "").next;
  }
  assert.ok(largest < 16 * 1024 * 1024, `one page was ${(largest / 1048576).toFixed(0)} MiB`);
  assert.deepEqual(seen, Array.from({ length: 300 }, (_, i) => String(i)));
});

Deno.test("analytics: 15-minute rows over [since, until), ranges checked", async () => {
  await using host = await startHost();
  const owner = { organizationId: host.org.id, projectId: host.project.id };
  host.usage.add(owner, { requestCount: 3, networkIngressBytes: 10, networkEgressBytes: 20 });

  const recent = await host.get(`/projects/${host.project.id}/analytics`);
  assert.equal(recent.status, 200);
  const analytics: Analytics = await recent.json();
  assert.equal(analytics.fields.length, 9);
  assert.ok(analytics.values.length >= 96 && analytics.values.length <= 97);
  const last = analytics.values.at(-1)!;
  assert.deepEqual(last.slice(1, 2), [3]);
  assert.deepEqual(last.slice(5, 7), [10, 20]);

  const window = await host.get(
    `/projects/${host.project.id}/analytics?since=2024-08-01T00:07:00Z&until=2024-08-01T01:00:00Z`,
  );
  const rows = (await window.json() as Analytics).values.map((row) => row[0]);
  assert.deepEqual(rows, [
    "2024-08-01T00:00:00Z",
    "2024-08-01T00:15:00Z",
    "2024-08-01T00:30:00Z",
    "2024-08-01T00:45:00Z",
  ]);

  const org = await host.get(`/organizations/${host.org.id}/analytics`);
  assert.equal((await org.json() as Analytics).values.at(-1)![1], 3);
  assert.deepEqual(
    await errorCode(
      await host.get(
        `/organizations/${host.org.id}/analytics?since=2024-08-01T00:00:00Z&until=2024-08-02T00:00:01Z`,
      ),
    ),
    [400, "invalidRange"],
  );
  assert.deepEqual(
    await errorCode(
      await host.get(
        `/projects/${host.project.id}/analytics?since=2024-08-02T00:00:00Z&until=2024-08-01T00:00:00Z`,
      ),
    ),
    [400, "invalidRange"],
  );
  assert.deepEqual(
    await errorCode(
      await host.get(`/projects/${host.project.id}/analytics?since=2020-01-01T00:00:00Z`),
    ),
    [400, "invalidRange"],
  );
  assert.deepEqual(
    await errorCode(await host.get(`/projects/${host.project.id}/analytics?since=now`)),
    [400, "invalidTime"],
  );
  assert.deepEqual(
    await errorCode(await host.get(`/projects/${host.otherProject.id}/analytics`)),
    [404, "projectNotFound"],
  );
  assert.deepEqual(
    await errorCode(await host.get(`/organizations/${host.otherProject.organizationId}/analytics`)),
    [404, "organizationNotFound"],
  );
});

Deno.test("an organization holds at most its number of live log streams; a closed one frees its slot", async () => {
  // Each live stream may hold its backlog (4 MiB) in the host's heap for a client that does not
  // read, and costs a copy of every line logged: 300 such streams on one chatty deployment grew
  // the host by 1.4 GiB, and nothing bounded their number.
  await using host = await startHost();
  const id = host.deploymentId;
  const max = MAX_LIVE_STREAMS_PER_ORGANIZATION;
  const streams: AbortController[] = [];
  try {
    for (let i = 0; i < max; i++) {
      const abort = new AbortController();
      const path = i % 2 === 0
        ? `/deployments/${id}/app_logs`
        : `${host.url.replace(/\/v1$/, "/v2")}/apps/logs-api/logs?start=2020-01-01T00:00:00Z`;
      const response = await host.get(path, "application/x-ndjson", abort.signal);
      assert.equal(response.status, 200);
      streams.push(abort);
    }
    const over = await host.get(`/deployments/${id}/app_logs`, "application/x-ndjson");
    if (over.status === 200) streams.push(cancelled(over));
    assert.deepEqual(await errorCode(over), [429, "tooManyLogStreams"]);
    const overV2 = await host.get(
      `${host.url.replace(/\/v1$/, "/v2")}/apps/logs-api/logs?start=2020-01-01T00:00:00Z`,
      "application/x-ndjson",
    );
    if (overV2.status === 200) streams.push(cancelled(overV2));
    assert.deepEqual(await errorCode(overV2), [429, "TOO_MANY_LOG_STREAMS"]);
    // Pages of past logs are not streams: still served.
    const past = await host.get(`/deployments/${id}/app_logs?since=2020-01-01T00:00:00Z`);
    assert.equal(past.status, 200);
    await past.body?.cancel();

    // A client that goes frees its slot.
    streams.shift()!.abort();
    let again: Response | undefined;
    for (let tries = 0; tries < 50; tries++) {
      again = await host.get(`/deployments/${id}/app_logs`, "application/x-ndjson");
      if (again.status === 200) break;
      await again.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(again?.status, 200);
    await again?.body?.cancel();
  } finally {
    for (const abort of streams) abort.abort();
  }
});
