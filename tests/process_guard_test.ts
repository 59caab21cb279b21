/**
 * The process guard's rules, on a made-up clock and made-up process readings: resident
 * memory over the limit, CPU burnt with no request in flight, and CPU burnt for too long.
 */
import assert from "node:assert/strict";
import { type GuardLimit, ProcessGuard, residentLimitMb } from "../host/tenant/process_guard.ts";
import type { ProcessTreeUsage } from "../host/tenant/process_usage.ts";

const MiB = 2 ** 20;

/** A guard over one made-up process, sampled by hand each simulated second. */
function setup(cpuPerSecond: number, options = {}) {
  let now = 0;
  let usage: ProcessTreeUsage | undefined = { cpuSeconds: 0, rssBytes: 50 * MiB };
  let lastActive = -Infinity;
  const exceeded: [GuardLimit, string][] = [];
  const guard = new ProcessGuard(
    64,
    { intervalMs: 0, cpuIdleWindowMs: 10_000, cpuBusyWindowMs: 60_000, ...options },
    () => usage,
    () => now,
  );
  guard.watch({
    pid: 1234,
    lastActive: () => lastActive,
    exceeded: (limit, message) => exceeded.push([limit, message]),
  });
  return {
    exceeded,
    guard,
    /** Advances the clock by `seconds`, one sample a second. */
    run(seconds: number) {
      for (let i = 0; i < seconds; i++) {
        now += 1_000;
        if (usage) usage = { ...usage, cpuSeconds: usage.cpuSeconds + cpuPerSecond };
        guard.sample();
      }
    },
    setRss: (mib: number) => usage = usage && { ...usage, rssBytes: mib * MiB },
    setActive: (at: number) => lastActive = at,
    now: () => now,
    gone: () => usage = undefined,
  };
}

Deno.test("the guard kills a process over its resident memory limit, once", () => {
  assert.equal(residentLimitMb(64), 144);
  assert.equal(residentLimitMb(512), 704);
  // Growing takes CPU time: a process at 5% of a core is sampled every second.
  const process = setup(0.05);
  process.run(3);
  assert.deepEqual(process.exceeded, []);
  process.setRss(150);
  process.run(2);
  assert.equal(process.exceeded.length, 1, "reported once");
  assert.deepEqual(process.exceeded[0], [
    "memory",
    "Memory limit exceeded: the process used 150 MiB (the limit is 144 MiB)",
  ]);
});

Deno.test("the guard kills a process burning CPU with no request in flight", () => {
  const process = setup(0.8);
  process.run(9);
  assert.deepEqual(process.exceeded, [], "not before the window is full");
  process.run(2);
  assert.equal(process.exceeded.length, 1);
  assert.equal(process.exceeded[0][0], "cpu");
  assert.match(
    process.exceeded[0][1],
    /^CPU time limit exceeded: the process used 80% of a CPU for 10 s with no request in flight/,
  );
});

Deno.test("the guard spares a process that serves, until the longer window", () => {
  const process = setup(0.8);
  for (let i = 0; i < 59; i++) {
    process.setActive(process.now()); // a request in flight each second
    process.run(1);
  }
  assert.deepEqual(process.exceeded, []);
  process.setActive(process.now());
  process.run(2);
  assert.equal(process.exceeded.length, 1);
  assert.match(process.exceeded[0][1], /used 80% of a CPU for 60 s, and was terminated$/);
});

Deno.test("a quiet process is sampled every 10 s, and at once when it serves again", () => {
  let now = 0;
  let cpuSeconds = 0;
  let reads = 0;
  let lastActive = -Infinity;
  const exceeded: string[] = [];
  const guard = new ProcessGuard(64, { intervalMs: 0 }, () => {
    reads++;
    return { cpuSeconds, rssBytes: 50 * MiB };
  }, () => now);
  const watched = guard.watch({
    pid: 1,
    lastActive: () => lastActive,
    exceeded: (_l, m) => exceeded.push(m),
  });
  const tick = (seconds: number, cpuPerSecond = 0) => {
    for (let i = 0; i < seconds; i++) {
      now += 1_000;
      cpuSeconds += cpuPerSecond;
      guard.sample();
    }
  };
  tick(2);
  const before = reads;
  tick(30);
  assert.ok(reads - before <= 4, `an idle process was read ${reads - before} times in 30 s`);
  lastActive = now; // a request came in
  watched.active();
  const beforeRequest = reads;
  tick(1);
  assert.equal(reads, beforeRequest + 1, "sampled at the next tick after a request");
  tick(1);
  assert.equal(reads, beforeRequest + 2, "and every tick while it is not quiet again");
  // A quiet process that starts burning CPU is still stopped, at most one quiet interval late.
  tick(25, 0.9);
  assert.equal(exceeded.length, 1, "a CPU burn after quiet is caught");
  guard.close();
});

Deno.test("quiet processes are not looked at between their samples", () => {
  // A thousand idle tenants: what each tick touches is what the host pays for them.
  let now = 0;
  let reads = 0;
  let looks = 0;
  const guard = new ProcessGuard(64, { intervalMs: 0 }, () => {
    reads++;
    return { cpuSeconds: 0, rssBytes: 50 * MiB };
  }, () => now);
  const handles = Array.from({ length: 1000 }, (_, pid) =>
    guard.watch({
      pid,
      lastActive: () => (looks++, -Infinity),
      exceeded: () => {},
    }));
  for (let second = 0; second < 5; second++) {
    now += 1_000;
    guard.sample();
  }
  const [readsBefore, looksBefore] = [reads, looks];
  now += 5_000; // all quiet since the sample a second after they came: due at 11 s
  guard.sample();
  assert.deepEqual([reads - readsBefore, looks - looksBefore], [0, 0], "nothing due");
  now += 1_000;
  guard.sample();
  assert.equal(reads - readsBefore, 1000, "all due at once, all read");
  handles[7].active();
  now += 1_000;
  const readsActive = reads;
  guard.sample();
  assert.equal(reads - readsActive, 1, "the one that served, alone");
  guard.close();
});

Deno.test("where the kernel caps memory, a request that is over does not keep a process on every tick", () => {
  for (const memoryEnforced of [true, false]) {
    let now = 0;
    let reads = 0;
    let lastActive = -Infinity;
    const guard = new ProcessGuard(64, { intervalMs: 0 }, () => {
      reads++;
      return { cpuSeconds: 0, rssBytes: 50 * MiB };
    }, () => now);
    const readUsage = memoryEnforced ? () => (reads++, { cpuSeconds: 0, rssBytes: 0 }) : undefined;
    const watched = guard.watch({
      pid: 1,
      lastActive: () => lastActive,
      exceeded: () => {},
      memoryEnforced,
      readUsage,
    });
    const tick = () => {
      now += 1_000;
      guard.sample();
    };
    tick(); // quiet from here: due 10 s later
    lastActive = now + 500; // served a request at little CPU, and woke the guard up
    watched.active();
    tick();
    const after = reads;
    for (let i = 0; i < 5; i++) tick();
    if (memoryEnforced) {
      assert.equal(reads, after, "CPU alone: quiet again at once");
      lastActive = Infinity; // a request in flight (lastActive says now)
      watched.active();
      tick();
      tick();
      assert.equal(reads, after + 2, "one in flight: every tick");
    } else {
      // Its memory is sampled here: it may have grown at little CPU, so it is read once more.
      assert.equal(reads, after + 1, "a request since the sample before: read the next tick too");
    }
    guard.close();
  }
});

Deno.test("a process quiet for long is sampled less and less often, at most 60 s apart", () => {
  let now = 0;
  const readsAt: number[] = [];
  let cpuSeconds = 0;
  const exceeded: string[] = [];
  const guard = new ProcessGuard(64, { intervalMs: 0 }, () => {
    readsAt.push(now);
    return { cpuSeconds, rssBytes: 50 * MiB };
  }, () => now);
  guard.watch({ pid: 1, lastActive: () => -Infinity, exceeded: (_l, m) => exceeded.push(m) });
  const tick = (seconds: number, cpuPerSecond = 0) => {
    for (let i = 0; i < seconds; i++) {
      now += 1_000;
      cpuSeconds += cpuPerSecond;
      guard.sample();
    }
  };
  tick(600);
  const gaps = readsAt.slice(1).map((at, i) => (at - readsAt[i]) / 1000);
  // Watched (0 s), the first sample a second later, then quiet: 10, 20, 40, then 60 s apart.
  assert.deepEqual(gaps.slice(0, 5), [1, 10, 20, 40, 60]);
  assert.ok(gaps.every((gap) => gap <= 60), `gaps: ${gaps.join(", ")}`);
  assert.ok(readsAt.length <= 15, `${readsAt.length} reads in 10 minutes of quiet`);
  // It starts burning CPU in a timer of its own: caught within the longest gap and the window.
  const burnFrom = now;
  tick(80, 0.9);
  assert.equal(exceeded.length, 1, "a CPU burn after a long quiet is still caught");
  assert.ok(readsAt.at(-1)! - burnFrom <= 71_000);
  guard.close();
});

Deno.test("the guard leaves alone a process under the CPU share, and one unwatched or gone", () => {
  const light = setup(0.3);
  light.run(120);
  assert.deepEqual(light.exceeded, []);

  const gone = setup(1);
  gone.run(5);
  gone.gone();
  gone.run(20);
  assert.deepEqual(gone.exceeded, [], "an exiting process is not judged on missing samples");

  let calls = 0;
  const guard = new ProcessGuard(64, { intervalMs: 0 }, () => ({ cpuSeconds: 0, rssBytes: 1e12 }));
  const watched = guard.watch({ pid: 1, lastActive: () => 0, exceeded: () => calls++ });
  assert.equal(calls, 1, "checked as soon as it is watched");
  watched.forget();
  guard.sample();
  assert.equal(calls, 1);
  guard.close();
});

Deno.test("where the kernel enforces memory, the guard samples CPU only, from the process's own reading", () => {
  let procReads = 0;
  let cgroupCpu = 0;
  let now = 0;
  const exceeded: [GuardLimit, string][] = [];
  const guard = new ProcessGuard(
    64,
    { intervalMs: 0, cpuIdleWindowMs: 5_000 },
    () => {
      procReads++;
      return { cpuSeconds: 0, rssBytes: 1e12 };
    },
    () => now,
  );
  assert.equal(guard.residentMemoryMb, 144, "the limit a cgroup gets");
  guard.watch({
    pid: 1,
    lastActive: () => -Infinity,
    exceeded: (limit, message) => exceeded.push([limit, message]),
    memoryEnforced: true,
    readUsage: () => ({ cpuSeconds: cgroupCpu, rssBytes: 1e12 }),
  });
  for (let i = 0; i < 4; i++) {
    now += 1_000;
    cgroupCpu += 0.1;
    guard.sample();
  }
  assert.equal(exceeded.length, 0, "memory is the kernel's to stop");
  assert.equal(procReads, 0, "/proc is not walked");
  for (let i = 0; i < 6; i++) {
    now += 1_000;
    cgroupCpu += 1;
    guard.sample();
  }
  assert.deepEqual(
    exceeded.map(([limit]) => limit),
    ["cpu"],
    "CPU outside requests is the guard's",
  );

  // A cgroup without a CPU reading (v1 without cpuacct): /proc, for CPU only.
  const fallback = new ProcessGuard(64, { intervalMs: 0 }, () => {
    procReads++;
    return { cpuSeconds: 0, rssBytes: 1e12 };
  });
  fallback.watch({
    pid: 1,
    lastActive: () => 0,
    exceeded: (limit, message) => exceeded.push([limit, message]),
    memoryEnforced: true,
    readUsage: () => undefined,
  });
  assert.equal(procReads, 1);
  assert.deepEqual(exceeded.map(([limit]) => limit), ["cpu"], "not killed for memory");
  fallback.close();
  guard.close();
});
