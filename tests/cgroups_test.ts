/**
 * Tenant cgroups (host/tenant/cgroups.ts): parsing what the kernel says about the host's
 * cgroups, and — where this machine lets the host make cgroups (root on v1, or a delegated v2
 * subtree) — a process started inside one, killed by the kernel at its memory limit, its CPU
 * weight changed, its cgroup and the host's directory removed, a killed host's directory
 * cleaned up. Where it cannot, those tests are skipped and say why.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  detectCgroups,
  HOST_CPU_WEIGHT,
  hostMemoryLimit,
  IDLE_BOOT_MS,
  inCgroup,
  parseCgroupMounts,
  parseSelfCgroup,
  procCgroupSources,
  TENANT_MAX_TASKS,
} from "../host/tenant/cgroups.ts";
import { cpuCgroup } from "./helpers/cgroups.ts";

const HYBRID_CGROUP = `9:name=systemd:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
`;

const HYBRID_MOUNTS = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 30 0:36 / /sys/fs/cgroup/systemd ro,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

Deno.test("cgroups: /proc/self/cgroup and mountinfo are parsed per hierarchy", () => {
  assert.deepEqual(parseSelfCgroup(HYBRID_CGROUP), [
    { controllers: ["name=systemd"], path: "/" },
    { controllers: ["memory"], path: "/process_api/abc" },
    { controllers: ["cpuacct"], path: "/" },
    { controllers: ["cpu"], path: "/" },
    { controllers: [], path: "/" },
  ]);
  const mounts = parseCgroupMounts(HYBRID_MOUNTS);
  assert.equal(mounts.length, 5, "tmpfs is not a cgroup mount");
  assert.deepEqual(mounts.find((m) => m.controllers.includes("memory")), {
    type: "cgroup",
    root: "/",
    mountPoint: "/sys/fs/cgroup/memory",
    controllers: ["memory"],
    readOnly: false,
  });
  assert.equal(mounts.find((m) => m.controllers.includes("name=systemd"))?.readOnly, true);
  assert.deepEqual(mounts.at(-1)?.type, "cgroup2");
  // Pure v2 (a systemd machine), in a container whose cgroup is mounted at its root.
  const [unified] = parseCgroupMounts(
    "25 20 0:23 /user.slice/app /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
  );
  assert.deepEqual(unified, {
    type: "cgroup2",
    root: "/user.slice/app",
    mountPoint: "/sys/fs/cgroup",
    controllers: [],
    readOnly: false,
  });
});

Deno.test("cgroups: turned off, or nothing usable, says why", async () => {
  assert.deepEqual(detectCgroups({ disabled: "turned off (--no-cgroups)" }), {
    kind: "none",
    reason: "turned off (--no-cgroups)",
  });
  // A v2 tree without the controllers, and v1 hierarchies not mounted: a fake tree.
  const root = await Deno.makeTempDir({ prefix: "dt-cgroups-fake-" });
  try {
    await Deno.writeTextFile(join(root, "cgroup.controllers"), "io pids\n");
    const support = detectCgroups({
      sources: {
        selfCgroup: "0::/\n",
        mountInfo: `40 30 0:37 / ${root} rw,relatime - cgroup2 cgroup2 rw\n`,
        pid: 1,
      },
    });
    assert.equal(support.kind, "none");
    assert.match(
      (support as { reason: string }).reason,
      /^v2: the controllers memory, cpu are not available in .*; v1: no memory hierarchy$/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cgroups v2, on a fake tree: limits written, the tenant joins before it runs, weight, OOM kills, CPU time", async () => {
  // Only the files: the kernel's side (enforcing, counting) is not there to test on a machine
  // without a delegated v2 subtree; the tests below do that where the host can make cgroups.
  const mount = await Deno.makeTempDir({ prefix: "dt-cgroups-v2-" });
  const own = join(mount, "app.slice", "host.service");
  try {
    await Deno.mkdir(own, { recursive: true });
    await Deno.writeTextFile(join(own, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    await Deno.writeTextFile(join(own, "cgroup.subtree_control"), "cpu memory\n");
    // A cgroup a killed host (pid 2^22 + 1) left behind, with no process in it.
    const stale = join(own, `deploy-tenant-${2 ** 22 + 1}-0badf00d-t3`);
    await Deno.mkdir(stale);
    await Deno.writeTextFile(join(stale, "cgroup.procs"), "");
    const support = detectCgroups({
      sources: {
        selfCgroup: "0::/app.slice/host.service\n",
        mountInfo: `25 20 0:23 / ${mount} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n`,
        pid: 4242,
      },
    });
    assert.equal(support.kind, "v2", (support as { reason?: string }).reason);
    if (support.kind !== "v2") return;
    const { cgroups } = support;
    assert.throws(() => Deno.statSync(stale), Deno.errors.NotFound, "the stale one is gone");
    assert.match(
      cgroups.describe(),
      /^cgroup v2 \(memory, cpu\) under .*host\.service \(deploy-tenant-4242-[0-9a-f]{8}-t<n>\)$/,
    );

    const cgroup = cgroups.create({ memoryBytes: 704 * 2 ** 20, weight: "low" });
    const [procs] = cgroup.procsFiles;
    const dir = join(procs, "..");
    assert.equal(cgroup.procsFiles.length, 1, "one file: memory and cpu are one tree");
    assert.ok(dir.startsWith(join(own, cgroups.prefix)));
    const read = (name: string) => Deno.readTextFileSync(join(dir, name)).trim();
    assert.equal(read("memory.max"), String(704 * 2 ** 20));
    assert.equal(read("memory.swap.max"), "0");
    assert.equal(read("memory.oom.group"), "1");
    assert.equal(read("cpu.weight"), "20");
    assert.equal(read("pids.max"), String(TENANT_MAX_TASKS));
    assert.equal(cgroup.memoryLimit(), 704 * 2 ** 20);

    // The wrapper writes the pid that then runs the command (exec keeps it), also in front of
    // a shell script of its own (the seccomp filter's).
    for (
      const command of [
        { command: "/bin/sh", args: ["-c", 'echo "$1 $$"', "sh", "first"] },
        { command: "/usr/bin/env", args: ["sh", "-c", 'echo "first $$"'] },
      ]
    ) {
      const wrapped = inCgroup(command, cgroup);
      const output = await new Deno.Command(wrapped.command, { args: wrapped.args }).output();
      const [word, pid] = new TextDecoder().decode(output.stdout).trim().split(" ");
      assert.equal(word, "first", "the command's own arguments come through");
      if (command.command === "/bin/sh") assert.equal(read("cgroup.procs"), pid);
      else assert.match(read("cgroup.procs"), /^\d+$/);
    }

    assert.equal(read("cpu.idle"), "1", "a booting tenant yields to everything else");
    assert.ok(cgroup.idle);
    cgroup.setWeight("normal");
    assert.equal(read("cpu.weight"), "100");
    assert.equal(read("cpu.idle"), "0", "a serving one does not");
    assert.ok(!cgroup.idle);
    assert.equal(cgroup.oomKills(), 0);
    await Deno.writeTextFile(
      join(dir, "memory.events"),
      "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n",
    );
    assert.equal(cgroup.oomKills(), 1);
    await Deno.writeTextFile(join(dir, "cpu.stat"), "usage_usec 2500000\nuser_usec 2000000\n");
    assert.equal(cgroup.cpuSeconds(), 2.5);

    // A boot that is still going after IDLE_BOOT_MS is no longer idle (it could be starved).
    const booting = cgroups.create({ memoryBytes: 2 ** 28, weight: "low" });
    const bootingDir = join(booting.procsFiles[0], "..");
    assert.equal(Deno.readTextFileSync(join(bootingDir, "cpu.idle")), "1");
    await new Promise((resolve) => setTimeout(resolve, IDLE_BOOT_MS + 100));
    assert.equal(Deno.readTextFileSync(join(bootingDir, "cpu.idle")), "0");
    assert.equal(Deno.readTextFileSync(join(bootingDir, "cpu.weight")), "20", "still low");

    // The host's own work moves into a cgroup of its own at a quarter weight, and back.
    assert.ok(cgroups.lowerHost(4242));
    const hostDir = join(own, `${cgroups.prefix}host`);
    assert.equal(Deno.readTextFileSync(join(hostDir, "cpu.weight")), String(HOST_CPU_WEIGHT));
    assert.equal(Deno.readTextFileSync(join(hostDir, "cgroup.procs")), "4242");
    assert.ok(!cgroups.lowerHost(4242), "once");
    // HAProxy's: a cgroup of its own at the normal weight, joined through the same wrapper.
    const edge = cgroups.serviceCgroup("edge", 100)!;
    assert.deepEqual(edge.procsFiles, [join(own, `${cgroups.prefix}edge`, "cgroup.procs")]);
    assert.equal(Deno.readTextFileSync(join(own, `${cgroups.prefix}edge`, "cpu.weight")), "100");

    await cgroups.close();
    assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound, "removed");
    assert.equal(Deno.readTextFileSync(join(own, "cgroup.procs")), "4242", "the host is back");
    assert.deepEqual(leftUnder([own], cgroups.prefix), []);
  } finally {
    await Deno.remove(mount, { recursive: true });
  }
});

/** What this machine offers, detected once (and removed again) to name the skipped tests. */
const here = await (async () => {
  const support = detectCgroups();
  if (support.kind === "none") return { usable: false, reason: support.reason };
  await support.cgroups.close();
  return { usable: true, reason: "" };
})();

function onThisMachine(name: string, fn: () => Promise<void>): Deno.TestDefinition {
  return here.usable ? { name, fn } : {
    name: `${name} [skipped: no cgroups the host can make here: ${here.reason}]`,
    ignore: true,
    fn,
  };
}

Deno.test(onThisMachine(
  "cgroups: a process inside its cgroup from the start is killed by the kernel at its memory limit",
  async () => {
    const support = detectCgroups();
    assert.notEqual(support.kind, "none");
    if (support.kind === "none") return;
    const { cgroups } = support;
    try {
      const limit = 96 * 2 ** 20;
      const cgroup = cgroups.create({ memoryBytes: limit, weight: "low" });
      assert.equal(cgroup.memoryLimit(), limit);
      // ArrayBuffers are outside V8's heap cap: only the cgroup stops them.
      const command = inCgroup({
        command: Deno.execPath(),
        args: [
          "eval",
          "const cgroup = Deno.readTextFileSync('/proc/self/cgroup'); console.log(cgroup);" +
          "const hoard = []; for (let i = 0; i < 40; i++) { " +
          "hoard.push(new Uint8Array(8 << 20).fill(1)); await new Promise((r) => setTimeout(r, 2)); }" +
          "console.log('survived');",
        ],
      }, cgroup);
      const output = await new Deno.Command(command.command, {
        args: command.args,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(output.stdout);
      assert.equal(output.signal, "SIGKILL", stdout);
      assert.ok(!stdout.includes("survived"));
      const name = cgroup.procsFiles[0].split("/").at(-2)!;
      assert.match(stdout, new RegExp(`/${name}\\n`), "the process was in its cgroup");
      assert.equal(cgroup.oomKills(), 1);
      assert.ok((cgroup.cpuSeconds() ?? 0) > 0, "its CPU time is counted");

      assert.equal(cgroup.weight, "low");
      const weightFile = cgroup.procsFiles.map((file) => file.replace("cgroup.procs", ""))
        .map((dir) => [join(dir, "cpu.weight"), join(dir, "cpu.shares")])
        .flat()
        .find((file) => {
          try {
            Deno.statSync(file);
            return true;
          } catch {
            return false;
          }
        })!;
      const low = Number(Deno.readTextFileSync(weightFile));
      cgroup.setWeight("normal");
      const normal = Number(Deno.readTextFileSync(weightFile));
      assert.ok(normal >= low * 4, `raised from ${low} to ${normal}`);

      await cgroup.remove();
      for (const file of cgroup.procsFiles) {
        assert.throws(() => Deno.statSync(file), Deno.errors.NotFound);
      }
    } finally {
      await cgroups.close();
    }
    assert.deepEqual(leftUnder(cgroups.paths, cgroups.prefix), [], "nothing left");
  },
));

Deno.test(onThisMachine(
  "cgroups: the host's own process moves below serving tenants and back, its children stay",
  async () => {
    const support = detectCgroups();
    if (support.kind === "none") return;
    const { cgroups } = support;
    // A stand-in for the host (moving this test process would move the test runner), with a
    // child it started before, as the host starts HAProxy.
    const host = new Deno.Command("/bin/sh", {
      args: ["-c", "sleep 30 & echo $!; wait"],
      stdout: "piped",
    }).spawn();
    const reader = host.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const child = Number((await reader.read()).value!.trim());
    const before = cpuCgroup(host.pid);
    try {
      assert.ok(cgroups.lowerHost(host.pid));
      assert.match(cpuCgroup(host.pid), new RegExp(`/${cgroups.prefix}host$`));
      assert.equal(cpuCgroup(child), before, "a process it started before stays");
      await cgroups.close();
      assert.equal(cpuCgroup(host.pid), before, "back where it was");
      assert.deepEqual(leftUnder(cgroups.paths, cgroups.prefix), [], "nothing left");
    } finally {
      await cgroups.close();
      Deno.kill(child);
      await reader.cancel();
      await host.status;
    }
  },
));

Deno.test(onThisMachine(
  "cgroups: the directories of a host that was killed are removed at the next start",
  async () => {
    const first = detectCgroups();
    if (first.kind === "none") return;
    // A host with pid 2^22 + 1 (above any pid_max) left a tenant's cgroup behind, and this
    // host (alive) one it still uses.
    const stale = `deploy-tenant-${2 ** 22 + 1}-0badf00d-`;
    const staleDirs = first.cgroups.paths.map((dir) => join(dir, `${stale}t1`));
    for (const dir of staleDirs) await Deno.mkdir(dir);
    const live = first.cgroups.create({ memoryBytes: 2 ** 28, weight: "normal" });
    const second = detectCgroups();
    try {
      assert.deepEqual(leftUnder(first.cgroups.paths, stale), [], "the dead host's are gone");
      for (const file of live.procsFiles) Deno.statSync(file); // the live host's stay
    } finally {
      await first.cgroups.close();
      if (second.kind !== "none") await second.cgroups.close();
    }
  },
));

/** Entries under `dirs` whose name starts with `prefix`. */
function leftUnder(dirs: string[], prefix: string): string[] {
  return dirs.flatMap((dir) =>
    [...Deno.readDirSync(dir)].filter((entry) => entry.name.startsWith(prefix))
      .map((entry) => join(dir, entry.name))
  );
}

Deno.test(onThisMachine(
  "cgroups: a tenant cannot make more tasks than its limit (the machine's pid_max is shared)",
  async () => {
    const support = detectCgroups();
    if (support.kind === "none") return;
    const { cgroups } = support;
    // Only where the kernel has the pids controller for the host.
    const hasPids = support.kind === "v1"
      ? /^\d+:(?:[\w=]+,)*pids(?:,[\w=]+)*:/m.test(Deno.readTextFileSync("/proc/self/cgroup"))
      : Deno.readTextFileSync(join(cgroups.dirs.unified!, "cgroup.controllers")).includes("pids");
    if (!hasPids) return;
    try {
      const cgroup = cgroups.create({ memoryBytes: 256 * 2 ** 20, weight: "normal" });
      const dir = cgroup.procsFiles.map((file) => join(file, "..")).find((d) =>
        readable(join(d, "pids.max"))
      );
      assert.ok(dir, "the tenant's cgroup has a task limit");
      assert.equal(Deno.readTextFileSync(join(dir, "pids.max")).trim(), String(TENANT_MAX_TASKS));
      // More sleeping children than the limit: the forks past it fail, the shell goes on.
      const command = inCgroup({
        command: "/bin/sh",
        args: [
          "-c",
          `for i in $(seq ${TENANT_MAX_TASKS + 100}); do sleep 2 & done 2>/dev/null; wait`,
        ],
      }, cgroup);
      await new Deno.Command(command.command, { args: command.args, stderr: "null" }).output();
      const refused = /^max (\d+)$/m.exec(Deno.readTextFileSync(join(dir, "pids.events")));
      assert.ok(Number(refused?.[1]) > 0, "forks past the limit were refused");
      await cgroup.remove();
    } finally {
      await cgroups.close();
    }
  },
));

function readable(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("cgroups: the host's own memory limit is read where it has one", () => {
  const limit = hostMemoryLimit(procCgroupSources());
  if (limit) assert.ok(limit.limitBytes > 0 && limit.usageBytes > 0);
  assert.equal(hostMemoryLimit({ selfCgroup: "", mountInfo: "" }), undefined);
});
