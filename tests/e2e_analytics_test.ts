/**
 * `analytics` and `usage` against a real local host: requests and bytes counted by the
 * router land in the current 15-minute bucket; usage has one row per project.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli, startTestHost, writeApp } from "./helpers/host.ts";
import type { Analytics, Deployment } from "../lib/types.ts";

const APP = `
Deno.serve(async (request) => {
  const body = await request.text();
  return new Response("echo: " + body + " " + "x".repeat(1000));
});
`;

/**
 * Four KV writes (a set, an atomic commit of two mutations, one of one made with the prototype's
 * methods) and seven reads (get, getMany of 2, a watch of 1, a listing of 3 made with the
 * prototype's `next`): however the code reaches an operation, it is counted.
 */
const KV_APP = `
Deno.serve(async () => {
  const kv = await Deno.openKv();
  await kv.set(["leads", "ada"], { score: 70 });
  await kv.atomic().set(["leads", "bob"], { score: 40 }).delete(["leads", "eve"]).commit();
  await kv.get(["leads", "ada"]);
  await kv.getMany([["leads", "ada"], ["leads", "bob"]]);
  const operation = kv.atomic();
  const { set, commit } = Object.getPrototypeOf(operation);
  set.call(operation, ["leads", "cy"], { score: 10 });
  await commit.call(operation);
  const listing = kv.list({ prefix: ["leads"] });
  const next = Object.getPrototypeOf(listing).next;
  while (!(await next.call(listing)).done);
  const watching = kv.watch([["leads", "ada"]]).getReader();
  await watching.read();
  await watching.cancel();
  return new Response("stored");
});
`;

const BUCKET_MS = 15 * 60 * 1000;
const INVOCATIONS = 3;
const BODY = JSON.stringify({ lead: "Ada Lovelace", score: 70 });

Deno.test("analytics counts each invocation; usage has one row per project", async (t) => {
  await using host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  const dir = await writeApp(host, "app", APP);
  for (const name of ["billed-busy", "billed-idle"]) {
    assert.equal((await cli("project", "create", name)).code, 0);
  }
  const deployed = await cli("deploy", dir, "--project", "billed-busy", "--json");
  assert.equal(deployed.code, 0, describe(deployed));
  const deployment = jsonOf<Deployment>(deployed);
  const before = Date.now();
  for (let i = 0; i < INVOCATIONS; i++) {
    const result = await cli("invoke", deployment.id, "/lead", "-d", BODY);
    assert.equal(result.code, 0, describe(result));
  }
  const after = Date.now();

  await t.step("analytics shows N requests and the bytes in the current bucket", async () => {
    const result = await cli("analytics", "billed-busy", "--json");
    assert.equal(result.code, 0, describe(result));
    const analytics = jsonOf<Analytics & { totals: Record<string, number> }>(result);
    const names = analytics.fields.map((field) => field.name);
    assert.deepEqual(names, [
      "time",
      "requestCount",
      "cpuSeconds",
      "uptimeSeconds",
      "maxRssMemoryBytes",
      "networkIngressBytes",
      "networkEgressBytes",
      "kvReadCount",
      "kvWriteCount",
    ]);
    const used = analytics.values.filter((row) => Number(row[1]) > 0);
    // The invocations may straddle a bucket boundary; otherwise they share one bucket.
    const buckets = new Set([before, after].map((ms) => ms - (ms % BUCKET_MS)));
    assert.ok(used.length >= 1, JSON.stringify(analytics.values.slice(-3)));
    for (const row of used) assert.ok(buckets.has(Date.parse(String(row[0]))), String(row[0]));
    const column = (name: string) =>
      used.reduce((sum, row) => sum + Number(row[names.indexOf(name)]), 0);
    assert.equal(column("requestCount"), INVOCATIONS);
    assert.equal(column("networkIngressBytes"), INVOCATIONS * BODY.length);
    assert.ok(column("networkEgressBytes") > INVOCATIONS * 1000);
    assert.equal(analytics.totals.requestCount, INVOCATIONS);
    assert.ok(analytics.totals.uptimeSeconds > 0);
    assert.ok(analytics.totals.maxRssMemoryBytes > 1e6);
  });

  await t.step("analytics as CSV and as a table", async () => {
    const csv = await cli("analytics", "billed-busy", "--since", "1h", "--format", "csv");
    assert.equal(csv.code, 0, describe(csv));
    const lines = csv.stdout.trim().split("\n");
    assert.equal(
      lines[0],
      "time,requestCount,cpuSeconds,uptimeSeconds,maxRssMemoryBytes,networkIngressBytes," +
        "networkEgressBytes,kvReadCount,kvWriteCount",
    );
    assert.ok(lines.length >= 5 && lines.length <= 6, csv.stdout); // 4 or 5 buckets in 1 h
    const requests = lines.slice(1).reduce((sum, line) => sum + Number(line.split(",")[1]), 0);
    assert.equal(requests, INVOCATIONS);

    const table = await cli("analytics", "billed-busy");
    assert.equal(table.code, 0, describe(table));
    assert.match(table.stdout, /^TIME\s+REQUESTS\s+CPU S/m);
    assert.match(table.stdout, new RegExp(`^TOTAL\\s+${INVOCATIONS}\\s`, "m"));
  });

  await t.step("usage --format csv has one row per project", async () => {
    const result = await cli("usage", "--format", "csv");
    assert.equal(result.code, 0, describe(result));
    const [header, ...rows] = result.stdout.trim().split("\n").map((line) => line.split(","));
    assert.deepEqual(header.slice(0, 5), [
      "projectId",
      "projectName",
      "since",
      "until",
      "requestCount",
    ]);
    assert.equal(rows.length, 2, result.stdout);
    const byName = Object.fromEntries(rows.map((row) => [row[1], row]));
    assert.equal(byName["billed-busy"][4], String(INVOCATIONS));
    assert.ok(Number(byName["billed-busy"][header.indexOf("networkIngressBytes")]) > 0);
    assert.equal(byName["billed-idle"][4], "0");
    assert.equal(
      Date.parse(byName["billed-idle"][3]) - Date.parse(byName["billed-idle"][2]),
      24 * 60 * 60 * 1000,
    );
  });

  await t.step("usage --json and bad ranges", async () => {
    const usage = jsonOf<{ projectName: string; requestCount: number }[]>(
      await cli("usage", "--since", "2h", "--json"),
    );
    assert.deepEqual(
      usage.map((row) => [row.projectName, row.requestCount]).sort(),
      [["billed-busy", INVOCATIONS], ["billed-idle", 0]],
    );
    const backwards = await cli("usage", "--since", "1h", "--until", "2h");
    assert.equal(backwards.code, 2, describe(backwards));
    const tooLong = await cli("usage", "--since", "40d");
    assert.equal(tooLong.code, 1, describe(tooLong));
    assert.match(tooLong.stderr, /at most 31 days/);
  });

  await t.step("KV reads and writes are counted as the code makes them", async () => {
    const kvDir = join(host.tempDir, "kv-app");
    await Deno.mkdir(kvDir);
    await Deno.writeTextFile(join(kvDir, "main.ts"), KV_APP);
    assert.equal((await cli("project", "create", "billed-kv")).code, 0);
    const database = jsonOf<{ id: string }>(await cli("db", "create", "--json"));
    const deployed = await cli("deploy", kvDir, "-p", "billed-kv", "--db", database.id, "--json");
    assert.equal(deployed.code, 0, describe(deployed));
    const result = await cli("invoke", jsonOf<Deployment>(deployed).id);
    assert.equal(result.stdout, "stored", describe(result));
    // The process reports its KV counts about once a second.
    const deadline = Date.now() + 15_000;
    let totals: Record<string, number> = {};
    while (Date.now() < deadline) {
      totals = jsonOf<{ totals: Record<string, number> }>(
        await cli("analytics", "billed-kv", "--json"),
      ).totals;
      if (totals.kvWriteCount > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.equal(totals.kvWriteCount, 4, JSON.stringify(totals));
    assert.equal(totals.kvReadCount, 7, JSON.stringify(totals));
    assert.equal(totals.requestCount, 1);
  });
});
