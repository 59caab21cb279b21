/**
 * The tenant's seccomp filter: its rules (run here by a small BPF interpreter on made-up
 * system calls), how the sandbox applies it per `permissions.net`, and, where bubblewrap and
 * seccomp are here, that it keeps a tenant from signalling the host's process group.
 */
import assert from "node:assert/strict";
import { describeIsolation } from "../host/mod.ts";
import { tenantFilter } from "../host/tenant/seccomp_filter.ts";
import {
  detectIsolation,
  type Isolation,
  networkMode,
  tenantCommand,
  type TenantSpec,
  writeTenantFilter,
} from "../host/tenant/sandbox.ts";
import { TENANT_SPEC as SPEC } from "./helpers/tenant_spec.ts";
import { requires } from "./helpers/programs.ts";

const X86_64 = { audit: 0xc000003e, socket: 41, connect: 42, kill: 62, setpriority: 141 };
const IOPRIO_SET = 251;
const ALLOW = 0x7fff0000;
const errno = (code: number) => 0x00050000 | code;

/** Runs a classic BPF filter over `struct seccomp_data` (the opcodes the filter uses). */
function run(filter: Uint8Array, nr: number, arch: number, args: number[] = []): number {
  const data = new DataView(new ArrayBuffer(64));
  data.setUint32(0, nr, true);
  data.setUint32(4, arch, true);
  args.forEach((arg, i) => data.setUint32(16 + i * 8, arg, true));
  const program = new DataView(filter.buffer, filter.byteOffset, filter.byteLength);
  let accumulator = 0;
  for (let pc = 0; pc * 8 < filter.length;) {
    const code = program.getUint16(pc * 8, true);
    const jt = program.getUint8(pc * 8 + 2);
    const jf = program.getUint8(pc * 8 + 3);
    const k = program.getUint32(pc * 8 + 4, true);
    if (code === 0x20) accumulator = data.getUint32(k, true);
    else if (code === 0x15) pc += accumulator === k ? jt : jf;
    else if (code === 0x35) pc += accumulator >= k ? jt : jf;
    else if (code === 0x06) return k;
    else throw new Error(`unexpected opcode ${code}`);
    pc++;
  }
  throw new Error("the filter fell off its end");
}

Deno.test("the filter refuses IPv6 sockets and connects that are not to an IPv4 address", () => {
  const filter = tenantFilter({ ipv4Only: true }, "x86_64")!;
  const { audit, socket, connect } = X86_64;
  assert.equal(run(filter, socket, audit, [10, 1]), errno(97), "AF_INET6: EAFNOSUPPORT");
  assert.equal(run(filter, socket, audit, [2, 1]), ALLOW, "AF_INET");
  assert.equal(run(filter, socket, audit, [1, 1]), ALLOW, "AF_UNIX: the tenant's own server");
  assert.equal(run(filter, connect, audit, [3, 0, 16]), ALLOW, "sockaddr_in");
  assert.equal(run(filter, connect, audit, [3, 0, 28]), errno(13), "sockaddr_in6");
  assert.equal(run(filter, connect, audit, [3, 0, 2 + 1 + 30]), errno(13), "an abstract name");
  assert.equal(run(filter, 0, audit, [3]), ALLOW, "read and every other call");
  assert.equal(run(filter, 0x40000000 | socket, audit, [10]), errno(13), "x32 calls");
  assert.equal(run(filter, 0, 0x40000003, [3]), errno(13), "i386 calls (int 0x80)");
  const arm = tenantFilter({ ipv4Only: true }, "aarch64")!;
  assert.equal(run(arm, 198, 0xc00000b7, [10]), errno(97));
  assert.equal(run(arm, 203, 0xc00000b7, [3, 0, 110]), errno(13));
  assert.equal(tenantFilter({ ipv4Only: true }, "riscv64"), undefined);

  const open = tenantFilter({ ipv4Only: false }, "x86_64")!;
  assert.equal(run(open, socket, audit, [10, 1]), ALLOW, "IPv6 where the list names it");
  assert.equal(run(open, connect, audit, [3, 0, 28]), ALLOW);
});

Deno.test("the filter refuses the calls that reach the tenant's whole process group", () => {
  for (const ipv4Only of [true, false]) {
    const filter = tenantFilter({ ipv4Only }, "x86_64")!;
    const { audit, kill, setpriority } = X86_64;
    assert.equal(run(filter, kill, audit, [0, 9]), errno(1), "kill(0): its process group");
    assert.equal(run(filter, kill, audit, [1, 9]), ALLOW, "kill(pid)");
    assert.equal(run(filter, setpriority, audit, [1, 0, 19]), errno(1), "PRIO_PGRP, own");
    assert.equal(run(filter, setpriority, audit, [0, 0, 19]), ALLOW, "PRIO_PROCESS");
    assert.equal(run(filter, setpriority, audit, [1, 7, 19]), ALLOW, "a group it can name");
    assert.equal(run(filter, IOPRIO_SET, audit, [2, 0, 1]), errno(1), "IOPRIO_WHO_PGRP, own");
    assert.equal(run(filter, IOPRIO_SET, audit, [1, 0, 1]), ALLOW, "IOPRIO_WHO_PROCESS");
  }
  const arm = tenantFilter({ ipv4Only: false }, "aarch64")!;
  assert.equal(run(arm, 129, 0xc00000b7, [0, 15]), errno(1));
  assert.equal(run(arm, 140, 0xc00000b7, [1, 0, 19]), errno(1));
  assert.equal(run(arm, 30, 0xc00000b7, [2, 0, 1]), errno(1));
});

Deno.test("networkMode: [] gets no network, an IPv6 address in the list keeps IPv6", () => {
  assert.equal(networkMode(undefined), "ipv4");
  assert.equal(networkMode(null), "ipv4");
  assert.equal(networkMode(["*"]), "ipv4");
  assert.equal(networkMode([]), "none");
  assert.equal(networkMode(["unix:/x.sock"]), "none");
  assert.equal(networkMode(["api.example.com", "1.2.3.4:443"]), "ipv4");
  assert.equal(networkMode(["api.example.com", "[2001:db8::1]:443"]), "shared");
});

const BWRAP: Isolation = { kind: "bwrap", bwrap: "/usr/bin/bwrap", seccomp: true };
const FILTER = "/data/deployments/abcde12vwxyz/seccomp.bpf";

Deno.test("tenantCommand: filter on fd 3; own network namespace or the host's network", () => {
  const open = tenantCommand({ ...SPEC, seccompFilter: FILTER }, BWRAP);
  assert.equal(open.command, "/bin/sh", "a shell opens the filter on fd 3");
  assert.deepEqual(open.args.slice(3, 5), [FILTER, "/usr/bin/bwrap"]);
  assert.ok(open.args.includes("--share-net"));
  assert.equal(open.args[open.args.indexOf("--seccomp") + 1], "3");
  assert.ok(open.args.includes("--as-pid-1"), "/proc/1 is the tenant itself");

  const none = tenantCommand({ ...SPEC, net: [], seccompFilter: FILTER }, BWRAP);
  assert.ok(!none.args.includes("--share-net"), "its own, empty network namespace");
  assert.equal(none.args[none.args.indexOf("--seccomp") + 1], "3");

  const ipv6 = tenantCommand({ ...SPEC, net: ["[2001:db8::1]:443"], seccompFilter: FILTER }, BWRAP);
  assert.ok(ipv6.args.includes("--share-net") && ipv6.args.includes("--seccomp"));

  const unfiltered = tenantCommand(SPEC, { ...BWRAP, seccomp: false });
  // A shell still sets the file size limit, then runs bubblewrap without a filter.
  assert.equal(unfiltered.command, "/bin/sh");
  assert.ok(unfiltered.args.includes("/usr/bin/bwrap"));
  assert.ok(!unfiltered.args.includes("--seccomp"));
});

Deno.test("tenantCommand: a session of its own only without a filter or with a terminal", () => {
  const own = (spec: TenantSpec, isolation: Isolation) =>
    tenantCommand(spec, isolation).args.includes("--new-session");
  assert.equal(own({ ...SPEC, seccompFilter: FILTER }, BWRAP), false, "the filter guards");
  assert.equal(own(SPEC, { ...BWRAP, seccomp: false }), true, "nothing guards its group");
  assert.equal(own({ ...SPEC, seccompFilter: FILTER }, { ...BWRAP, terminal: true }), true);
});

Deno.test("writeTenantFilter writes the filter for the deployment's network", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await writeTenantFilter(BWRAP, undefined, dir);
    assert.ok(path?.startsWith(dir));
    assert.deepEqual(await Deno.readFile(path!), tenantFilter({ ipv4Only: true }));
    assert.equal((await Deno.stat(path!)).mode! & 0o777, 0o600);
    const closed = await writeTenantFilter(BWRAP, [], dir);
    assert.deepEqual(await Deno.readFile(closed!), tenantFilter({ ipv4Only: false }));
    const filterless = { ...BWRAP, seccomp: false };
    assert.equal(await writeTenantFilter(filterless, undefined, dir), undefined);
    const none: Isolation = { kind: "none", reason: "test", accepted: true };
    assert.equal(await writeTenantFilter(none, undefined, dir), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const isolation = await detectIsolation();
const filtered = isolation.kind === "bwrap" && isolation.seccomp === true;

Deno.test(requires(["bwrap"], {
  name: "under the filter, a sandboxed process cannot signal or renice its process group",
  ignore: !filtered,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const filter = await writeTenantFilter(isolation, [], dir);
      // The sandboxed shell tries what a tenant past Deno's permissions could; `sleep` stands
      // for the host in the same process group. In a session and group of their own (detached),
      // so that a filter that lets kill(0) through cannot hit this test runner.
      const inner = "kill -TERM 0; echo kill=$?; renice -n 5 -g 0 2>&1; echo renice=$?";
      const script = `sleep 30 & S=$!; "$@" 3<"${filter}"; ` +
        `if kill -0 $S 2>/dev/null; then echo group=alive; kill $S; fi`;
      const bwrap = (isolation as { bwrap: string }).bwrap;
      // spawn(), not output(): only a spawned child is detached.
      const child = new Deno.Command("/bin/sh", {
        args: [
          "-c",
          script,
          "sh",
          bwrap,
          ...["--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--as-pid-1"],
          ...["--seccomp", "3", "/bin/sh", "-c", inner],
        ],
        detached: true,
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const out = await child.output();
      const text = new TextDecoder().decode(out.stdout);
      assert.match(text, /kill=1/, "kill(0) refused");
      assert.match(text, /renice=1/, "setpriority(PRIO_PGRP, 0) refused");
      assert.match(text, /group=alive/, "the process group survived");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
}));

Deno.test("host status names the filter, and says when tenants get sessions of their own", () => {
  assert.equal(describeIsolation(BWRAP), "bubblewrap sandbox + seccomp filter + Deno permissions");
  assert.match(describeIsolation({ ...BWRAP, terminal: true }), /session of its own/);
  assert.match(describeIsolation({ ...BWRAP, seccomp: false }), /no seccomp filter/);
});
