/**
 * The machine's limits read at start (host/tenant/machine_limits.ts): parsing `/proc`, and the
 * warm tenants they make room for.
 */
import assert from "node:assert/strict";
import {
  capacityWarning,
  type MachineLimits,
  parseLoadavgTasks,
  parseMeminfo,
  parseProcLimits,
  readMachineLimits,
  TENANT_COST,
  warmCapacity,
} from "../host/tenant/machine_limits.ts";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max stack size            8388608              unlimited            bytes     
Max processes             96367                96367                processes 
Max open files            1024                 524288               files     
Max realtime timeout      unlimited            unlimited            us        
`;

Deno.test("machine limits: /proc/self/limits, meminfo and loadavg are parsed", () => {
  const limits = parseProcLimits(LIMITS);
  assert.deepEqual(limits["Max open files"], { soft: 1024, hard: 524288 });
  assert.deepEqual(limits["Max processes"], { soft: 96367, hard: 96367 });
  assert.deepEqual(limits["Max cpu time"], { soft: null, hard: null });
  assert.deepEqual(limits["Max stack size"], { soft: 8388608, hard: null });
  const meminfo = parseMeminfo(
    "MemTotal:       24683748 kB\nMemAvailable:   2048 kB\nHugePages_Total:       0\n",
  );
  assert.equal(meminfo.MemAvailable, 2048 * 1024);
  assert.equal(meminfo.HugePages_Total, 0);
  assert.equal(parseLoadavgTasks("0.71 0.28 0.11 3/186 11601\n"), 186);
  assert.equal(parseLoadavgTasks(""), null);
});

/** Limits where nothing binds, to change one figure at a time. */
const ROOMY: MachineLimits = {
  openFiles: { soft: 1_000_000, hard: 1_000_000 },
  processes: { soft: 1_000_000, hard: 1_000_000 },
  root: false,
  pidMax: 4_194_304,
  threadsMax: 4_000_000,
  tasks: 200,
  hostOpenFiles: 30,
  memoryAvailableBytes: 1e12,
  cgroupMemory: null,
};

Deno.test("machine limits: the warm tenants each limit makes room for, the tightest binding", () => {
  const files = warmCapacity({ ...ROOMY, openFiles: { soft: 1024, hard: 4096 } });
  assert.equal(files.boundBy, "open files");
  assert.equal(files.tenants, Math.floor((1024 - 30) / TENANT_COST.fds));

  const pids = warmCapacity({ ...ROOMY, pidMax: 32768 });
  assert.equal(pids.boundBy, "pids");
  assert.equal(pids.tenants, Math.floor((32768 - 200 - 256) / TENANT_COST.tasks));

  // A non-root user is held to RLIMIT_NPROC; root is not.
  const user = { ...ROOMY, processes: { soft: 4096, hard: 4096 } };
  assert.equal(warmCapacity(user).boundBy, "processes");
  assert.notEqual(warmCapacity({ ...user, root: true }).boundBy, "processes");

  // The host's cgroup limit counts when it is below what the machine has free.
  const cgroup = warmCapacity({
    ...ROOMY,
    cgroupMemory: { limitBytes: 2 * 2 ** 30, usageBytes: 2 ** 30 },
  });
  assert.equal(cgroup.boundBy, "memory");
  assert.equal(cgroup.tenants, Math.floor((2 ** 30 - 256 * 2 ** 20) / TENANT_COST.memoryBytes));

  const unknown = warmCapacity({
    openFiles: null,
    processes: null,
    root: false,
    pidMax: null,
    threadsMax: null,
    tasks: null,
    hostOpenFiles: null,
    memoryAvailableBytes: null,
    cgroupMemory: null,
  });
  assert.deepEqual(unknown, { tenants: null, boundBy: null, each: {} });
  assert.equal(capacityWarning(10_000, unknown), undefined);

  assert.equal(capacityWarning(files.tenants!, files), undefined);
  assert.match(
    capacityWarning(files.tenants! + 1, files)!,
    /^warning: --max-warm is \d+, but this machine's open files limit leaves room for about \d+ warm tenants/,
  );
});

Deno.test("machine limits: read from this machine", () => {
  const limits = readMachineLimits();
  if (Deno.build.os !== "linux") return;
  assert.ok(limits.openFiles?.soft, "RLIMIT_NOFILE");
  assert.ok(limits.pidMax && limits.threadsMax && limits.tasks);
  assert.ok(limits.memoryAvailableBytes && limits.memoryAvailableBytes > 0);
  assert.ok((limits.hostOpenFiles ?? 0) > 2);
  assert.ok((warmCapacity(limits).tenants ?? 0) > 0);
});
