import assert from "node:assert/strict";
import {
  ProcessSampler,
  type ProcessTreeUsage,
  readProcessTreeUsage,
} from "../host/tenant/process_usage.ts";
import { Store } from "../host/store/store.ts";
import { bucketOf, countBytes, UsageMeter } from "../host/tenant/usage.ts";
import { analyticsRows } from "../lib/analytics.ts";

const T0 = Date.parse("2024-08-01T10:00:00Z");
const MINUTE = 60_000;

function setup() {
  const store = Store.open(":memory:");
  const org = store.ensureOrganization("acme");
  const a = store.createProject(org.id, { name: "project-a", description: "" });
  const b = store.createProject(org.id, { name: "project-b", description: "" });
  const clock = { now: T0 };
  const meter = new UsageMeter(store, { flushIntervalMs: 0, now: () => clock.now });
  return {
    store,
    clock,
    meter,
    a: { organizationId: org.id, projectId: a.id },
    b: { organizationId: org.id, projectId: b.id },
    [Symbol.dispose]() {
      meter.close();
      store.close();
    },
  };
}

Deno.test("usage lands in the 15-minute bucket it happened in", () => {
  using t = setup();
  t.meter.add(t.a, { requestCount: 1, networkIngressBytes: 100, networkEgressBytes: 2000 });
  t.clock.now += 14 * MINUTE;
  t.meter.add(t.a, { requestCount: 1, networkEgressBytes: 500 });
  t.meter.flush(); // flushes add up with what was counted before
  t.clock.now += 2 * MINUTE; // 10:16, the next bucket
  t.meter.add(t.a, { requestCount: 1, cpuSeconds: 0.25 });

  const rows = analyticsRows(t.meter.projectAnalytics(t.a.projectId, T0, T0 + 60 * MINUTE));
  assert.deepEqual(rows.map((row) => row.time), [
    "2024-08-01T10:00:00Z",
    "2024-08-01T10:15:00Z",
    "2024-08-01T10:30:00Z",
    "2024-08-01T10:45:00Z",
  ]);
  assert.equal(rows[0].requestCount, 2);
  assert.equal(rows[0].networkIngressBytes, 100);
  assert.equal(rows[0].networkEgressBytes, 2500);
  assert.equal(rows[1].requestCount, 1);
  assert.equal(rows[1].cpuSeconds, 0.25);
  assert.deepEqual(Object.values(rows[2]).slice(1), [0, 0, 0, 0, 0, 0, 0, 0]);
});

Deno.test("the answer has the API's fields and types", () => {
  using t = setup();
  const analytics = t.meter.projectAnalytics(t.a.projectId, T0, T0 + 15 * MINUTE);
  assert.deepEqual(analytics.fields, [
    { name: "time", type: "time" },
    { name: "requestCount", type: "number" },
    { name: "cpuSeconds", type: "number" },
    { name: "uptimeSeconds", type: "number" },
    { name: "maxRssMemoryBytes", type: "number" },
    { name: "networkIngressBytes", type: "number" },
    { name: "networkEgressBytes", type: "number" },
    { name: "kvReadCount", type: "number" },
    { name: "kvWriteCount", type: "number" },
  ]);
  assert.deepEqual(analytics.values, [["2024-08-01T10:00:00Z", 0, 0, 0, 0, 0, 0, 0, 0]]);
});

Deno.test("memory is a maximum, the rest are sums; organization rows total its projects", () => {
  using t = setup();
  t.meter.add(t.a, { requestCount: 2, maxRssMemoryBytes: 50e6, kvReadCount: 3 });
  t.meter.add(t.a, { maxRssMemoryBytes: 40e6, kvWriteCount: 1 });
  t.meter.add(t.b, { requestCount: 5, maxRssMemoryBytes: 70e6, kvReadCount: 1 });
  const [a] = analyticsRows(t.meter.projectAnalytics(t.a.projectId, T0, T0 + MINUTE));
  assert.equal(a.maxRssMemoryBytes, 50e6);
  assert.equal(a.requestCount, 2);
  const [org] = analyticsRows(
    t.meter.organizationAnalytics(t.a.organizationId, T0, T0 + MINUTE),
  );
  assert.equal(org.requestCount, 7);
  assert.equal(org.kvReadCount, 4);
  assert.equal(org.kvWriteCount, 1);
  assert.equal(org.maxRssMemoryBytes, 70e6);
  // A deleted project's usage still counts for its organization.
  t.store.deleteProject(t.b.projectId);
  const [after] = analyticsRows(
    t.meter.organizationAnalytics(t.a.organizationId, T0, T0 + MINUTE),
  );
  assert.equal(after.requestCount, 7);
});

Deno.test("bucketOf rounds down to the quarter hour", () => {
  assert.equal(
    bucketOf(Date.parse("2024-08-01T10:29:59.999Z")) * 1000,
    Date.parse("2024-08-01T10:15:00Z"),
  );
  assert.equal(
    bucketOf(Date.parse("2024-08-01T10:30:00Z")) * 1000,
    Date.parse("2024-08-01T10:30:00Z"),
  );
});

Deno.test("countBytes passes a body through and counts it as it flows", async () => {
  const counted: number[] = [];
  const body = ReadableStream.from([new Uint8Array(3), new Uint8Array(5)]);
  const bytes = await new Response(countBytes(body, (n) => counted.push(n))).bytes();
  assert.equal(bytes.length, 8);
  assert.deepEqual(counted, [3, 5]);
});

Deno.test("the sampler's rounds read only processes that served, and all once a bucket ends", () => {
  using t = setup();
  const reads: number[] = [];
  let cpuSeconds = 0;
  const sampler = new ProcessSampler(t.meter, {
    intervalMs: 0,
    now: () => t.clock.now,
    read: (pid) => {
      reads.push(pid);
      return { cpuSeconds, rssBytes: 1e6 };
    },
  });
  let lastServed = t.clock.now;
  sampler.started(t.a, 1, () => lastServed);
  sampler.started(t.b, 2); // no activity to go by: read every round (10 s apart at least)
  /** The processes a round `ms` later reads. */
  const step = (ms: number) => {
    reads.length = 0;
    t.clock.now += ms;
    sampler.round();
    return [...reads].sort();
  };
  const round = () => step(30_000);
  assert.deepEqual(round(), [1, 2], "read once after it started");
  assert.deepEqual(round(), [2], "idle since: not read");
  lastServed = t.clock.now + 1_000;
  sampler.served(1);
  cpuSeconds = 0.25;
  assert.deepEqual(round(), [1, 2], "served since: read");
  // Served again at once: read at the first round 10 s after its last read, not sooner.
  lastServed = t.clock.now + 1;
  sampler.served(1);
  assert.deepEqual(step(5_000), [], "both read 5 s ago: later");
  assert.deepEqual(step(5_000), [1, 2]);
  assert.deepEqual(round(), [2]);
  lastServed = Infinity; // a request in flight: Date.now() while it serves
  sampler.served(1);
  assert.deepEqual(round(), [1, 2]);
  assert.deepEqual(round(), [1, 2], "still serving: read again");
  lastServed = t.clock.now;
  round();
  // Idle, but its own timers may burn CPU: read again once the 15-minute bucket has ended.
  let rounds = 7;
  while (!round().includes(1)) rounds++;
  assert.equal(rounds + 1, 30, "the first round of the next bucket");
  sampler.sample(); // before a query: everything is read
  sampler.close();
  const rows = analyticsRows(t.meter.projectAnalytics(t.a.projectId, T0, T0 + 60 * MINUTE));
  assert.equal(rows[0].cpuSeconds, 0.25);
  // Uptime counted to the last sample (910 s after it started), split at the bucket's edge.
  assert.deepEqual(rows.slice(0, 2).map((row) => row.uptimeSeconds), [900, 10]);
});

Deno.test("an idle process's uptime lands in each bucket it spans, counted once a bucket", () => {
  using t = setup();
  let adds = 0;
  const meter: Pick<UsageMeter, "add"> = {
    add: (owner, counts, at) => {
      adds++;
      t.meter.add(owner, counts, at);
    },
  };
  const sampler = new ProcessSampler(meter, {
    intervalMs: 0,
    now: () => t.clock.now,
    read: () => ({ cpuSeconds: 0, rssBytes: 1e6 }),
  });
  t.clock.now = T0 + 5 * MINUTE; // 10:05
  sampler.started(t.a, 1, () => 0);
  for (let round = 0; round < 72; round++) { // to 10:41, a round every 30 s
    t.clock.now += 30_000;
    sampler.round();
  }
  // Read once after it started, and once as each bucket ends: not a record every round.
  assert.ok(adds <= 1 + 2 * 2, `${adds} records in 72 rounds`);
  sampler.sample(); // before a query: counted to now
  const rows = analyticsRows(t.meter.projectAnalytics(t.a.projectId, T0, T0 + 45 * MINUTE));
  assert.deepEqual(rows.map((row) => row.uptimeSeconds), [600, 900, 660]);
  sampler.close();
});

Deno.test("the sampler reads a process with a cgroup there, not its tree in /proc", () => {
  using t = setup();
  const procReads: number[] = [];
  const sampler = new ProcessSampler(t.meter, {
    intervalMs: 0,
    now: () => t.clock.now,
    read: (pid) => {
      procReads.push(pid);
      return { cpuSeconds: 9, rssBytes: 9e6 };
    },
  });
  let cgroupCpu: number | undefined = 0.5;
  sampler.started(
    t.a,
    7,
    undefined,
    () => cgroupCpu === undefined ? undefined : { cpuSeconds: cgroupCpu, rssBytes: 40e6 },
  );
  t.clock.now += 30_000;
  sampler.round();
  assert.deepEqual(procReads, [], "the cgroup answered: no walk of /proc");
  cgroupCpu = undefined; // the cgroup is gone (the process is exiting): /proc, as before
  t.clock.now += 30_000;
  sampler.round();
  assert.deepEqual(procReads, [7]);
  sampler.close();
  const [a] = analyticsRows(t.meter.projectAnalytics(t.a.projectId, T0, T0 + 60 * MINUTE));
  assert.equal(a.cpuSeconds, 9);
  assert.equal(a.maxRssMemoryBytes, 40e6);
});

Deno.test("the sampler adds CPU and uptime deltas and the largest memory seen", () => {
  using t = setup();
  let reading: ProcessTreeUsage | undefined = { cpuSeconds: 0.5, rssBytes: 30e6 };
  const sampler = new ProcessSampler(t.meter, {
    intervalMs: 0,
    now: () => t.clock.now,
    read: () => reading,
  });
  sampler.started(t.a, 4242);
  t.clock.now += 5_000;
  sampler.sample();
  reading = { cpuSeconds: 0.75, rssBytes: 20e6 };
  t.clock.now += 5_000;
  sampler.sample();
  reading = undefined; // the process is gone before its exit is noticed
  t.clock.now += 2_000;
  sampler.exited(4242);
  sampler.sample(); // forgotten: adds nothing
  sampler.close();
  const [row] = analyticsRows(t.meter.projectAnalytics(t.a.projectId, T0, T0 + MINUTE));
  assert.equal(row.cpuSeconds, 0.75);
  assert.equal(row.uptimeSeconds, 12);
  assert.equal(row.maxRssMemoryBytes, 30e6);
});

Deno.test("a process that exits adds the CPU time its cgroup counted since its last read", () => {
  using t = setup();
  const sampler = new ProcessSampler(t.meter, {
    intervalMs: 0,
    now: () => t.clock.now,
    read: () => ({ cpuSeconds: 0.5, rssBytes: 30e6 }),
  });
  sampler.started(t.a, 4242);
  sampler.sample();
  sampler.exited(4242, 2.25); // its cgroup's count at the exit: 1.75 s after the read
  sampler.exited(4242, 9); // forgotten: adds nothing
  sampler.close();
  const [row] = analyticsRows(t.meter.projectAnalytics(t.a.projectId, T0, T0 + MINUTE));
  assert.equal(row.cpuSeconds, 2.25);
});

Deno.test({
  name: "readProcessTreeUsage reads this process from /proc",
  ignore: Deno.build.os !== "linux",
  fn() {
    const usage = readProcessTreeUsage(Deno.pid);
    assert.ok(usage);
    assert.ok(usage.cpuSeconds > 0, `cpu ${usage.cpuSeconds}`);
    // The resident size status(5) reports, read the other way (pages of stat(5)).
    const vmRss = Number(
      /^VmRSS:\s+(\d+) kB/m.exec(Deno.readTextFileSync("/proc/self/status"))![1],
    ) * 1024;
    assert.ok(Math.abs(usage.rssBytes - vmRss) < vmRss * 0.05, `rss ${usage.rssBytes} vs ${vmRss}`);
    assert.equal(readProcessTreeUsage(2 ** 22 + 1), undefined);
  },
});
