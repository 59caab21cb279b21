import assert from "node:assert/strict";
import {
  type AppLogOptions,
  AppLogs,
  formatMicros,
  InvalidCursorError,
} from "../host/tenant/app_logs.ts";
import { Store } from "../host/store/store.ts";
import type { AppLogEntry } from "../lib/types.ts";
import { bareDeployment } from "./helpers/store.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const T0 = Date.parse("2024-08-01T00:00:00Z");

/** A store with one project and `count` deployments, and app logs on a clock the test moves. */
function setup(count = 1, options: AppLogOptions = {}) {
  const store = Store.open(":memory:");
  const org = store.ensureOrganization("acme");
  const project = store.createProject(org.id, { name: "logs-test", description: "" });
  const ids = Array.from({ length: count }, () => {
    const deployment = bareDeployment(project.id);
    store.createDeployment(deployment);
    return deployment.id;
  });
  const clock = { now: T0 };
  const logs = new AppLogs(store, { sweepIntervalMs: 0, now: () => clock.now, ...options });
  return {
    store,
    ids,
    clock,
    logs,
    count(id: string): number {
      return Number(
        (store.database.prepare("SELECT COUNT(*) AS n FROM app_logs WHERE deployment_id = ?")
          .get(id) as { n: number }).n,
      );
    },
    [Symbol.dispose]() {
      logs.close();
      store.close();
    },
  };
}

const messages = (entries: AppLogEntry[]) => entries.map((entry) => entry.message);

Deno.test("lines come back with time, level, message and region local", () => {
  using t = setup();
  const [id] = t.ids;
  t.logs.append(id, "info", "hello");
  t.clock.now += 1500;
  t.logs.append(id, "error", "line one\nline two");
  const page = t.logs.query(id, { limit: 10, order: "asc" });
  assert.deepEqual(page.entries, [
    { time: "2024-08-01T00:00:00.000000Z", level: "info", message: "hello", region: "local" },
    {
      time: "2024-08-01T00:00:01.500000Z",
      level: "error",
      message: "line one\nline two",
      region: "local",
    },
  ]);
  assert.equal(page.cursor, undefined);
});

Deno.test("lines logged in the same millisecond keep their order", () => {
  using t = setup();
  const [id] = t.ids;
  for (const message of ["a", "b", "c"]) t.logs.append(id, "info", message);
  const entries = t.logs.query(id, { limit: 10, order: "asc" }).entries;
  assert.deepEqual(messages(entries), ["a", "b", "c"]);
  assert.ok(entries[0].time < entries[1].time && entries[1].time < entries[2].time);
});

Deno.test("past queries filter by level, text and time, newest first by default", () => {
  using t = setup(2);
  const [id, other] = t.ids;
  t.logs.append(id, "debug", "booting");
  t.clock.now += 1000;
  t.logs.append(id, "info", "Lead captured: Ada");
  t.clock.now += 1000;
  t.logs.append(id, "warning", "slow lead scoring");
  t.clock.now += 1000;
  t.logs.append(id, "error", "lead rejected");
  t.logs.append(other, "error", "another deployment's lead");

  const all = t.logs.query(id, { limit: 100, order: "desc" }).entries;
  assert.deepEqual(messages(all), [
    "lead rejected",
    "slow lead scoring",
    "Lead captured: Ada",
    "booting",
  ]);
  const severe = t.logs.query(id, { limit: 100, order: "asc", levels: ["warning", "error"] });
  assert.deepEqual(messages(severe.entries), ["slow lead scoring", "lead rejected"]);
  const text = t.logs.query(id, { limit: 100, order: "asc", q: "LEAD" });
  assert.deepEqual(messages(text.entries), [
    "Lead captured: Ada",
    "slow lead scoring",
    "lead rejected",
  ]);
  // `_` and `%` are text, not wildcards.
  assert.deepEqual(t.logs.query(id, { limit: 100, order: "asc", q: "%" }).entries, []);
  const window = t.logs.query(id, {
    limit: 100,
    order: "asc",
    since: T0 + 1000,
    until: T0 + 3000,
  });
  assert.deepEqual(messages(window.entries), ["Lead captured: Ada", "slow lead scoring"]);
});

Deno.test("a cursor pages through every line exactly once, in either order", () => {
  using t = setup();
  const [id] = t.ids;
  for (let i = 0; i < 25; i++) {
    t.logs.append(id, "info", `line ${i}`);
    if (i % 3 === 0) t.clock.now += 1; // some lines share a millisecond
  }
  for (const order of ["asc", "desc"] as const) {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = t.logs.query(id, { limit: 10, order, cursor });
      seen.push(...messages(page.entries));
      cursor = page.cursor;
      pages++;
    } while (cursor);
    const expected = Array.from({ length: 25 }, (_, i) => `line ${i}`);
    assert.deepEqual(seen, order === "asc" ? expected : expected.reverse());
    assert.equal(pages, 3);
  }
  assert.throws(
    () => t.logs.query(id, { limit: 10, order: "asc", cursor: "bogus!" }),
    InvalidCursorError,
  );
});

Deno.test("live subscribers get matching lines at once, then null when the stream ends", () => {
  using t = setup(2);
  const [id, other] = t.ids;
  const got: (AppLogEntry | null)[] = [];
  const unsubscribe = t.logs.subscribe(id, { levels: ["error"], q: "boom" }, (e) => got.push(e));
  t.logs.append(id, "info", "boom but info");
  t.logs.append(id, "error", "Boom!");
  t.logs.append(other, "error", "boom elsewhere");
  assert.deepEqual(got.map((entry) => entry?.message), ["Boom!"]);
  t.logs.end(id);
  assert.equal(got.at(-1), null);
  unsubscribe();

  const late: (AppLogEntry | null)[] = [];
  t.logs.subscribe(other, {}, (entry) => late.push(entry));
  t.logs.close();
  assert.deepEqual(late, [null]);
});

Deno.test("the retention sweep deletes lines older than the retention period", async () => {
  using t = setup(1, { retentionMs: 14 * DAY_MS });
  const [id] = t.ids;
  t.logs.append(id, "info", "two weeks and a day ago");
  t.clock.now += DAY_MS;
  t.logs.append(id, "info", "two weeks ago");
  t.clock.now += 14 * DAY_MS - 1;
  t.logs.append(id, "info", "just now");
  assert.equal(await t.logs.sweep(), 1);
  assert.deepEqual(messages(t.logs.query(id, { limit: 10, order: "asc" }).entries), [
    "two weeks ago",
    "just now",
  ]);
  t.clock.now += 2;
  assert.equal(await t.logs.sweep(), 1);
  assert.equal(t.count(id), 1);
});

Deno.test("each deployment keeps at most its cap of lines, the newest", async () => {
  using t = setup(2, { maxLinesPerDeployment: 20 });
  const [chatty, quiet] = t.ids;
  t.logs.append(quiet, "info", "quiet line");
  for (let i = 0; i < 1000; i++) t.logs.append(chatty, "info", `line ${i}`);
  t.logs.flush();
  // Trimmed as batches are written (with some slack), exactly by the sweep.
  assert.ok(t.count(chatty) <= 25, `${t.count(chatty)} lines kept`);
  await t.logs.sweep();
  assert.equal(t.count(chatty), 20);
  const kept = t.logs.query(chatty, { limit: 100, order: "asc" }).entries;
  assert.equal(kept[0].message, "line 980");
  assert.equal(kept.at(-1)!.message, "line 999");
  assert.equal(t.count(quiet), 1);
});

Deno.test("lines are written in batches, and a deleted deployment's lines are dropped", () => {
  using t = setup(2, { flushIntervalMs: 60_000 });
  const [kept, deleted] = t.ids;
  t.logs.append(kept, "info", "kept");
  t.logs.append(deleted, "info", "dropped");
  assert.equal(t.count(kept), 0, "nothing is written before the batch is");
  t.store.deleteDeployment(deleted);
  t.logs.flush();
  assert.equal(t.count(kept), 1);
  assert.equal(t.count(deleted), 0);
});

Deno.test("an oversized message is cut, and says so", () => {
  using t = setup();
  const [id] = t.ids;
  t.logs.append(id, "info", "x".repeat(100_000));
  const [entry] = t.logs.query(id, { limit: 1, order: "asc" }).entries;
  assert.ok(entry.message.length < 40_000);
  assert.match(entry.message, /more characters not kept\]$/);
});

Deno.test("formatMicros prints RFC 3339 with microseconds", () => {
  assert.equal(
    formatMicros(Date.parse("2023-09-22T05:38:34.550Z") * 1000 + 90),
    "2023-09-22T05:38:34.550090Z",
  );
});

Deno.test("over its byte rate a deployment's lines are dropped as they arrive, then counted once", () => {
  using t = setup(2, { maxBytesPerSecond: 1000 });
  const [noisy, quiet] = t.ids;
  // A burst holds 4 seconds' worth: 40 lines of 100 bytes, then nothing more this instant.
  for (let i = 0; i < 100; i++) t.logs.append(noisy, "info", "x".repeat(100));
  t.logs.flush();
  assert.equal(t.count(noisy), 40);
  // Its neighbour's budget is its own.
  t.logs.append(quiet, "info", "still here");
  t.logs.flush();
  assert.equal(t.count(quiet), 1);
  // A second later 1000 bytes have come back: first the report of what was dropped (not
  // charged to the deployment), then its line.
  t.clock.now += 1000;
  t.logs.append(noisy, "info", "after");
  const page = t.logs.query(noisy, { limit: 100, order: "desc" });
  const [last, report] = messages(page.entries);
  assert.equal(last, "after");
  assert.equal(
    report,
    "60 log lines (6000 bytes) were dropped: over the rate of 1000 bytes per second",
  );
});

Deno.test("a deployment keeps at most its byte budget of messages, the oldest going first", () => {
  using t = setup(1, { maxBytesPerDeployment: 10_000, maxBytesPerSecond: 1_000_000 });
  const [id] = t.ids;
  for (let i = 0; i < 500; i++) {
    t.logs.append(id, "info", `${String(i).padStart(4, "0")} ${"é".repeat(48)}`); // 101 bytes
    t.clock.now += 1;
  }
  t.logs.flush();
  const bytes = Number(
    (t.store.database.prepare(
      "SELECT SUM(octet_length(message)) AS n FROM app_logs WHERE deployment_id = ?",
    ).get(id) as { n: number }).n,
  );
  // Trimmed after every eighth of the budget written: at most that much over it.
  assert.ok(bytes <= 10_000 * 1.125, `${bytes} bytes kept`);
  assert.ok(bytes >= 9_000, `${bytes} bytes kept`);
  const newest = messages(t.logs.query(id, { limit: 1, order: "desc" }).entries)[0];
  assert.match(newest, /^0499 /);
});
