/**
 * Idle cost (issue 16, item 2): `BENCH_IDLE_N` hello deployments (default 200) kept warm at once
 * on a host started with `--max-warm` above N, every one called once and checked to answer, then
 * everything left idle. Measured over the idle window (`BENCH_IDLE_SECONDS`, default 10 s, after
 * `BENCH_IDLE_SETTLE` seconds of quiet, default 5, so the last requests' own work is over):
 *
 * - CPU, from the utime + stime deltas in /proc/<pid>/stat: the host process alone, and the
 *   whole tree (host, HAProxy, bubblewrap sandboxes, tenants: every descendant of the host pid),
 *   as % of one core;
 * - memory per warm tenant: PSS (/proc/<pid>/smaps_rollup) summed over each tenant's process
 *   tree, its sandbox included, and RSS beside it; the median over the tenants.
 *
 * The baseline, same run (after the host has stopped): N bare `deno run` processes of the same
 * hello module, each serving on its own unix socket (bench/fixtures/unix_serve.ts), each called
 * once, idle for the same window, measured the same way. Ratios are to the bare processes'
 * figures (their CPU all together); the targets are absolute: host ≤ 5% of a core, tree ≤ 10%,
 * ≤ 20 MB PSS per warm tenant. Bare idle CPU can be near 0 (0/0): below 0.2% of a core the CPU
 * rows' ratio is to the target instead, and the row says so. `BENCH_HOST_ARGS`: see
 * bench/host.ts.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { deployLive, skipUnlessInstalled, startBenchHost } from "./host.ts";
import { report } from "./report.ts";

const count = Number(Deno.env.get("BENCH_IDLE_N") ?? 200);
const idleSeconds = Number(Deno.env.get("BENCH_IDLE_SECONDS") ?? 10);
const settleSeconds = Number(Deno.env.get("BENCH_IDLE_SETTLE") ?? 5);
/** Targets of issue 16.2. */
const HOST_TARGET = 5;
const TREE_TARGET = 10;
const PSS_TARGET_MB = 20;
/** Bare idle CPU (% of a core) below which a ratio to it means nothing: 2 ticks in 10 s. */
const MIN_BARE_CPU = 0.2;
/** Deploys and first calls in flight at once. */
const PARALLEL = 4;

const hello = fileURLToPath(new URL("../examples/hello", import.meta.url));
const helloMain = join(hello, "main.ts");
const unixServe = fileURLToPath(new URL("./fixtures/unix_serve.ts", import.meta.url));

skipUnlessInstalled("idle", ["haproxy", "bwrap"]);

/** Clock ticks per second of /proc/<pid>/stat's times (`getconf CLK_TCK`, 100 on Linux). */
const TICKS = await (async () => {
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).output();
    return Number(new TextDecoder().decode(out.stdout).trim()) || 100;
  } catch {
    return 100;
  }
})();

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const pct = (value: number) => `${value.toFixed(2)}%`;

interface Stat {
  ppid: number;
  comm: string;
  /** utime + stime, in ticks. */
  own: number;
  /** cutime + cstime: children reaped, in ticks. */
  reaped: number;
}

/** Every process's parent, name and CPU times. */
async function processTable(): Promise<Map<number, Stat>> {
  const table = new Map<number, Stat>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const text = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const close = text.lastIndexOf(")");
      const comm = text.slice(text.indexOf("(") + 1, close);
      // Fields from the 3rd (state): ppid is the 4th, utime/stime/cutime/cstime the 14th–17th.
      const fields = text.slice(close + 2).split(" ");
      table.set(Number(entry.name), {
        ppid: Number(fields[1]),
        comm,
        own: Number(fields[11]) + Number(fields[12]),
        reaped: Number(fields[13]) + Number(fields[14]),
      });
    } catch { /* exited */ }
  }
  return table;
}

/** `roots` and all their descendants in `table`. */
function descendants(table: Map<number, Stat>, roots: number[]): Set<number> {
  const children = new Map<number, number[]>();
  for (const [pid, stat] of table) {
    const list = children.get(stat.ppid) ?? [];
    list.push(pid);
    children.set(stat.ppid, list);
  }
  const tree = new Set<number>();
  const stack = roots.filter((pid) => table.has(pid));
  while (stack.length) {
    const pid = stack.pop()!;
    if (tree.has(pid)) continue;
    tree.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/**
 * CPU used over `seconds` of idling, as % of one core: `single` alone, and every process of
 * `roots()`'s trees. A process started in the window counts whole; one that exited in it counts
 * through its parent's reaped-children times.
 */
async function idleCpu(
  seconds: number,
  roots: (table: Map<number, Stat>) => number[],
  single?: number,
): Promise<{ single: number; tree: number; processes: number }> {
  const before = await processTable();
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const after = await processTable();
  const elapsed = (performance.now() - start) / 1000;
  const tree = descendants(after, roots(after));
  let ticks = 0;
  const byName = new Map<string, number>();
  for (const pid of tree) {
    const now = after.get(pid)!;
    const then = before.get(pid);
    const used = then && then.comm === now.comm
      ? now.own - then.own + now.reaped - then.reaped
      : now.own + now.reaped;
    ticks += used;
    const name = pid === single ? "the host" : now.comm;
    byName.set(name, (byName.get(name) ?? 0) + used);
  }
  const percent = (t: number) => (100 * t / TICKS) / elapsed;
  console.error(
    `idle: CPU over ${elapsed.toFixed(1)} s by process name: ${
      [...byName].map(([name, t]) => `${name} ${pct(percent(t))}`).join(", ")
    }`,
  );
  const singleTicks = single !== undefined && before.has(single) && after.has(single)
    ? after.get(single)!.own - before.get(single)!.own
    : 0;
  return { single: percent(singleTicks), tree: percent(ticks), processes: tree.size };
}

/** PSS and RSS of `pids` together, in bytes. */
async function memoryOf(pids: Iterable<number>): Promise<{ pss: number; rss: number }> {
  let pss = 0;
  let rss = 0;
  for (const pid of pids) {
    try {
      const rollup = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
      pss += Number(rollup.match(/^Pss:\s+(\d+) kB/m)?.[1] ?? 0) * 1024;
      rss += Number(rollup.match(/^Rss:\s+(\d+) kB/m)?.[1] ?? 0) * 1024;
    } catch { /* exited, or not ours to read */ }
  }
  return { pss, rss };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Runs `work` over `items`, `parallel` at a time. */
async function eachParallel<T>(
  items: T[],
  parallel: number,
  work: (item: T, i: number) => Promise<void>,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i], i);
      }
    }),
  );
}

/** One HTTP/1.1 GET over a unix socket; the response's body. */
async function getUnix(path: string): Promise<string> {
  const connection = await Deno.connect({ transport: "unix", path });
  try {
    await connection.write(
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    );
    let text = "";
    const buffer = new Uint8Array(4096);
    for (;;) {
      const n = await connection.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text.slice(text.indexOf("\r\n\r\n") + 4);
  } finally {
    connection.close();
  }
}

interface Measured {
  cpu: { single: number; tree: number; processes: number };
  pss: number;
  rss: number;
}

/** The host's figures, its tenants warm and idle. */
async function measureHost(): Promise<
  Measured & { answered: number; warm: number; treePss: number }
> {
  const host = await startBenchHost(join(root, "data"), [
    "--max-warm",
    String(count + 50),
  ]);
  try {
    await host.api.projects.create({ name: "bench-idle" });
    const domains: string[] = [];
    const deployStart = performance.now();
    await eachParallel(Array.from({ length: count }), PARALLEL, async () => {
      domains.push((await deployLive(host.api, "bench-idle", hello)).domain);
    });
    console.error(
      `idle: ${count} deployments in ${((performance.now() - deployStart) / 1000).toFixed(0)} s`,
    );
    let answered = 0;
    const warmStart = performance.now();
    await eachParallel(domains, PARALLEL, async (domain) => {
      const response = await invoke(`http://${domain}:${host.port}/`, undefined, {
        timeoutMs: 60_000,
      });
      if (response.status === 200 && (await response.text()).startsWith("Hello")) answered++;
      else await response.body?.cancel();
    });
    console.error(
      `idle: ${answered} of ${count} answered their first request in ${
        ((performance.now() - warmStart) / 1000).toFixed(0)
      } s`,
    );
    // No keep-alive connection of ours left open to the front proxy.
    closeInvokeClients();
    await new Promise((resolve) => setTimeout(resolve, settleSeconds * 1000));

    const cpu = await idleCpu(idleSeconds, () => [host.pid], host.pid);

    // A tenant is a direct child of the host other than HAProxy, with a Deno in its tree (the
    // warm pool's spare runtime is one more such tree: the median does not notice it).
    const table = await processTable();
    const tenants: number[] = [];
    for (const [pid, stat] of table) {
      if (stat.ppid !== host.pid || stat.comm === "haproxy") continue;
      const tree = descendants(table, [pid]);
      if ([...tree].some((member) => table.get(member)?.comm === "deno")) tenants.push(pid);
    }
    const perTenant = [];
    for (const tenant of tenants) perTenant.push(await memoryOf(descendants(table, [tenant])));
    const whole = descendants(table, [host.pid]);
    const treeMemory = await memoryOf(whole);
    const names = new Map<string, number>();
    for (const pid of whole) {
      const comm = table.get(pid)!.comm;
      names.set(comm, (names.get(comm) ?? 0) + 1);
    }
    console.error(
      `idle: the host's tree: ${[...names].map(([name, n]) => `${n} × ${name}`).join(", ")}`,
    );
    return {
      answered,
      warm: tenants.length,
      cpu,
      pss: median(perTenant.map((m) => m.pss)),
      rss: median(perTenant.map((m) => m.rss)),
      treePss: treeMemory.pss,
    };
  } finally {
    closeInvokeClients();
    await host.stop();
  }
}

/** The baseline: N bare `deno run` of the same module, each on its own unix socket. */
async function measureBare(): Promise<Measured & { answered: number }> {
  const bare: Deno.ChildProcess[] = [];
  try {
    const sockets = Array.from({ length: count }, (_, i) => join(root, `bare-${i}.sock`));
    for (const socket of sockets) {
      bare.push(
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", unixServe, helloMain, socket],
          stdin: "null",
          stdout: "null",
          stderr: "inherit",
        }).spawn(),
      );
    }
    let bareAnswered = 0;
    await eachParallel(sockets, PARALLEL, async (socket) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          if ((await getUnix(socket)).startsWith("Hello")) bareAnswered++;
          return;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, settleSeconds * 1000));
    const pids = bare.map((child) => child.pid);
    const cpu = await idleCpu(idleSeconds, () => pids);
    const table = await processTable();
    const perProcess = [];
    for (const pid of pids) perProcess.push(await memoryOf(descendants(table, [pid])));
    const pss = median(perProcess.map((m) => m.pss));
    const rss = median(perProcess.map((m) => m.rss));

    return { cpu, pss, rss, answered: bareAnswered };
  } finally {
    for (const child of bare) {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
    }
    await Promise.all(bare.map((child) => child.status));
  }
}

/**
 * Idle CPU against the bare processes' idle CPU; when that is below what 10 ms ticks resolve
 * over the window (0/0), against the target instead, which the baseline's text then says.
 */
function cpuRatio(value: number, bare: number, target: number): number {
  return bare >= MIN_BARE_CPU ? value / bare : value / target;
}
function againstTarget(bare: number): string {
  return bare >= MIN_BARE_CPU ? "" : " (too little to divide by: ratio to the target)";
}

const root = await Deno.makeTempDir({ prefix: "dt-bench-idle-" });
try {
  const measured = await measureHost();
  const { cpu, pss, rss, answered: bareAnswered } = await measureBare();
  const { answered, warm } = measured;
  // Every tenant answered and is still warm after the window (the pool's spare is one more).
  const all = answered === count && warm >= count && bareAnswered === count;
  const label = `${count} warm hello tenants idle ${idleSeconds} s (${answered} answered, ` +
    `${warm} tenant trees)`;
  const bareLabel = `${count} bare deno run (${bareAnswered} answered)`;
  report({
    name: `idle CPU, ${label}: the host process`,
    value: `${pct(measured.cpu.single)} of a core`,
    baseline: `${pct(cpu.tree)} of a core, all ${bareLabel}${againstTarget(cpu.tree)}`,
    ratio: cpuRatio(measured.cpu.single, cpu.tree, HOST_TARGET),
    target: `host ≤ ${HOST_TARGET}% of a core`,
    met: all && measured.cpu.single <= HOST_TARGET,
  });
  report({
    name: `idle CPU, ${label}: the whole tree (host, HAProxy, sandboxes, tenants)`,
    value: `${pct(measured.cpu.tree)} of a core (${measured.cpu.processes} processes)`,
    baseline: `${pct(cpu.tree)} of a core, all ${bareLabel}${againstTarget(cpu.tree)}`,
    ratio: cpuRatio(measured.cpu.tree, cpu.tree, TREE_TARGET),
    target: `tree ≤ ${TREE_TARGET}% of a core`,
    met: all && measured.cpu.tree <= TREE_TARGET,
  });
  report({
    name: `memory per warm tenant, ${count} warm (PSS incl. its sandbox, median)`,
    value: `${mb(measured.pss)} PSS (RSS ${mb(measured.rss)}; tree ${
      (measured.treePss / 1e9).toFixed(2)
    } GB PSS)`,
    baseline: `${mb(pss)} PSS (RSS ${mb(rss)}) per bare deno run`,
    ratio: measured.pss / pss,
    target: `≤ ${PSS_TARGET_MB} MB PSS per warm tenant`,
    met: all && measured.pss <= PSS_TARGET_MB * 1e6,
  });
} finally {
  await Deno.remove(root, { recursive: true });
}
