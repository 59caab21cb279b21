/**
 * The tenant's network containment: the seccomp filter (run here by a small BPF interpreter
 * on made-up system calls) and how the sandbox applies it per `permissions.net`.
 */
import assert from "node:assert/strict";
import { ipv4OnlyFilter } from "../host/net_filter.ts";
import {
  type Isolation,
  networkMode,
  tenantCommand,
  type TenantSpec,
  writeNetFilter,
} from "../host/sandbox.ts";

const X86_64 = { audit: 0xc000003e, socket: 41, connect: 42 };
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
  const filter = ipv4OnlyFilter("x86_64")!;
  const { audit, socket, connect } = X86_64;
  assert.equal(run(filter, socket, audit, [10, 1]), errno(97), "AF_INET6: EAFNOSUPPORT");
  assert.equal(run(filter, socket, audit, [2, 1]), ALLOW, "AF_INET");
  assert.equal(run(filter, socket, audit, [1, 1]), ALLOW, "AF_UNIX: the tenant's own server");
  assert.equal(run(filter, connect, audit, [3, 0, 16]), ALLOW, "sockaddr_in");
  assert.equal(run(filter, connect, audit, [3, 0, 28]), errno(13), "sockaddr_in6");
  assert.equal(run(filter, connect, audit, [3, 0, 2 + 1 + 30]), errno(13), "an abstract name");
  assert.equal(run(filter, 0, audit, [3]), ALLOW, "read and every other call");
  assert.equal(run(filter, 0x40000000 | socket, audit, [10]), errno(13), "x32 calls");
  assert.equal(run(filter, socket, 0x40000003, [10]), ALLOW, "another ABI's numbers mean else");
  const arm = ipv4OnlyFilter("aarch64")!;
  assert.equal(run(arm, 198, 0xc00000b7, [10]), errno(97));
  assert.equal(run(arm, 203, 0xc00000b7, [3, 0, 110]), errno(13));
  assert.equal(ipv4OnlyFilter("riscv64"), undefined);
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

const SPEC: TenantSpec = {
  deploymentId: "abcde12vwxyz",
  appDir: "/data/deployments/abcde12vwxyz/app",
  entrypoint: "main.ts",
  runDir: "/data/deployments/abcde12vwxyz/run",
  cacheDir: "/data/deployments/abcde12vwxyz/cache",
  bootstrap: "/opt/bootstrap.js",
  envVars: {},
  memoryMb: 512,
  denoFlags: [],
  deno: "/usr/bin/deno",
};
const BWRAP: Isolation = { kind: "bwrap", bwrap: "/usr/bin/bwrap", seccomp: true };
const FILTER = "/data/deployments/abcde12vwxyz/net-filter.bpf";

Deno.test("tenantCommand: own network namespace, filter on fd 3, or the host's network", () => {
  const open = tenantCommand({ ...SPEC, seccompFilter: FILTER }, BWRAP);
  assert.equal(open.command, "/bin/sh", "a shell opens the filter on fd 3");
  assert.deepEqual(open.args.slice(3, 5), [FILTER, "/usr/bin/bwrap"]);
  assert.ok(open.args.includes("--share-net"));
  assert.equal(open.args[open.args.indexOf("--seccomp") + 1], "3");
  assert.ok(open.args.includes("--as-pid-1"), "/proc/1 is the tenant itself");

  const none = tenantCommand({ ...SPEC, net: [], seccompFilter: FILTER }, BWRAP);
  assert.equal(none.command, "/usr/bin/bwrap");
  assert.ok(!none.args.includes("--share-net"), "its own, empty network namespace");
  assert.ok(!none.args.includes("--seccomp"));

  const ipv6 = tenantCommand({ ...SPEC, net: ["[2001:db8::1]:443"], seccompFilter: FILTER }, BWRAP);
  assert.equal(ipv6.command, "/usr/bin/bwrap");
  assert.ok(ipv6.args.includes("--share-net") && !ipv6.args.includes("--seccomp"));
});

Deno.test("writeNetFilter writes the filter only where it is used", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await writeNetFilter(BWRAP, undefined, dir);
    assert.ok(path?.startsWith(dir));
    assert.deepEqual(await Deno.readFile(path!), ipv4OnlyFilter());
    assert.equal((await Deno.stat(path!)).mode! & 0o777, 0o600);
    assert.equal(await writeNetFilter(BWRAP, [], dir), undefined);
    assert.equal(await writeNetFilter({ ...BWRAP, seccomp: false }, undefined, dir), undefined);
    const none: Isolation = { kind: "none", reason: "test", accepted: true };
    assert.equal(await writeNetFilter(none, undefined, dir), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
