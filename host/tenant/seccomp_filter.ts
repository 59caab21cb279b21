/**
 * The seccomp filter (classic BPF, the form bubblewrap's `--seccomp` loads) every sandboxed
 * tenant runs under, for what neither Deno's permissions nor the namespaces say.
 *
 * Its process group: a tenant shares the host's session and process group (a session of
 * its own is a scheduler autogroup of its own, see `sandbox.ts`), so the filter refuses the
 * calls that reach a whole process group by naming "my own" (`EPERM`): `kill(0, …)`,
 * `setpriority(PRIO_PGRP, 0, …)`, `ioprio_set(IOPRIO_WHO_PGRP, 0, …)`. Any other group is
 * named by a pid the tenant's pid namespace cannot see.
 *
 * Its network, kept to IPv4 when the deployment may reach public hosts (`ipv4Only`):
 * - Deno's `--deny-net` takes IPv4 CIDRs but only exact IPv6 addresses, so private and
 *   link-local IPv6 ranges (`fc00::/7`, `fe80::/10`) stay reachable: the filter refuses to
 *   create IPv6 sockets (`EAFNOSUPPORT`; a name with both A and AAAA records falls back to
 *   IPv4);
 * - an unscoped `--allow-net` also grants Linux abstract unix sockets, which live in the
 *   network namespace the sandbox shares with the host and which no `--deny-net` entry can
 *   name: the filter refuses every `connect()` whose address is not the size of an IPv4
 *   address (`EACCES`). The tenant's own server socket only binds and accepts. An abstract
 *   name of exactly 13 bytes has that size too: the residual risk the README states.
 *
 * seccomp sees a system call's number and integer arguments, never the memory they point to,
 * hence the sizes. Calls of another ABI (x32, or i386 through `int 0x80`) are refused whole:
 * their numbers mean other calls, and Deno makes none.
 *
 * @module
 */

/** `struct seccomp_data` offsets: the call number, the architecture, then six 64-bit arguments. */
const NR = 0;
const ARCH = 4;
const ARG0_LOW = 16;
const ARG1_LOW = 24;
const ARG2_LOW = 32;

/** `AUDIT_ARCH_*` and system call numbers per architecture Deno ships for on Linux. */
const ARCHITECTURES: Record<string, Syscalls> = {
  x86_64: {
    audit: 0xc000003e,
    socket: 41,
    connect: 42,
    kill: 62,
    setpriority: 141,
    ioprioSet: 251,
  },
  aarch64: {
    audit: 0xc00000b7,
    socket: 198,
    connect: 203,
    kill: 129,
    setpriority: 140,
    ioprioSet: 30,
  },
};

interface Syscalls {
  audit: number;
  socket: number;
  connect: number;
  kill: number;
  setpriority: number;
  ioprioSet: number;
}

/** x32 system calls on x86_64 carry this bit. */
const X32_SYSCALL_BIT = 0x40000000;
const AF_INET6 = 10;
const SOCKADDR_IN_SIZE = 16;
const PRIO_PGRP = 1;
const IOPRIO_WHO_PGRP = 2;
const EPERM = 1;
const EACCES = 13;
const EAFNOSUPPORT = 97;

const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;

// BPF opcodes: load a word at an absolute offset, jump if equal / greater or equal, return.
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const RET_K = 0x06;

/** One BPF instruction; jumps name a later instruction's `label` (or `next`). */
type Instruction =
  & (
    | { op: "load"; offset: number }
    | { op: "jeq" | "jge"; value: number; then: string; else: string }
    | { op: "return"; value: number }
  )
  & { label?: string };

/** What the filter keeps a tenant from besides its process group. */
export interface TenantFilterOptions {
  /** Refuse IPv6 sockets and connects to anything but an IPv4 address. */
  ipv4Only: boolean;
}

/**
 * The filter for `arch` (default: this machine's), or `undefined` where no system call
 * numbers are known for it.
 */
export function tenantFilter(
  { ipv4Only }: TenantFilterOptions,
  arch: string = Deno.build.arch,
): Uint8Array | undefined {
  const numbers = ARCHITECTURES[arch];
  if (!numbers) return undefined;
  const network: Instruction[] = ipv4Only
    ? [
      { op: "jeq", value: numbers.socket, then: "socket", else: "next" },
      { op: "jeq", value: numbers.connect, then: "connect", else: "allow" },
      { op: "load", offset: ARG0_LOW, label: "socket" },
      { op: "jeq", value: AF_INET6, then: "unsupported", else: "allow" },
      { op: "load", offset: ARG2_LOW, label: "connect" },
      { op: "jeq", value: SOCKADDR_IN_SIZE, then: "allow", else: "denied" },
    ]
    : [];
  return assemble([
    { op: "load", offset: ARCH },
    { op: "jeq", value: numbers.audit, then: "next", else: "denied" },
    { op: "load", offset: NR },
    { op: "jge", value: X32_SYSCALL_BIT, then: "denied", else: "next" },
    { op: "jeq", value: numbers.kill, then: "kill", else: "next" },
    { op: "jeq", value: numbers.setpriority, then: "setpriority", else: "next" },
    { op: "jeq", value: numbers.ioprioSet, then: "ioprio", else: ipv4Only ? "next" : "allow" },
    ...network,
    { op: "load", offset: ARG0_LOW, label: "kill" },
    { op: "jeq", value: 0, then: "own group", else: "allow" },
    { op: "load", offset: ARG0_LOW, label: "setpriority" },
    { op: "jeq", value: PRIO_PGRP, then: "who", else: "allow" },
    { op: "load", offset: ARG0_LOW, label: "ioprio" },
    { op: "jeq", value: IOPRIO_WHO_PGRP, then: "who", else: "allow" },
    { op: "load", offset: ARG1_LOW, label: "who" },
    { op: "jeq", value: 0, then: "own group", else: "allow" },
    { op: "return", value: SECCOMP_RET_ALLOW, label: "allow" },
    { op: "return", value: SECCOMP_RET_ERRNO | EACCES, label: "denied" },
    { op: "return", value: SECCOMP_RET_ERRNO | EAFNOSUPPORT, label: "unsupported" },
    { op: "return", value: SECCOMP_RET_ERRNO | EPERM, label: "own group" },
  ]);
}

/** Encodes `struct sock_filter` entries (little-endian), resolving labels to forward jumps (BPF has no others). */
function assemble(program: Instruction[]): Uint8Array {
  const labels = new Map<string, number>();
  program.forEach((instruction, index) => {
    if (instruction.label) labels.set(instruction.label, index);
  });
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach((instruction, index) => {
    const at = index * 8;
    const jump = (label: string) => {
      const target = label === "next" ? index + 1 : labels.get(label);
      if (target === undefined || target <= index || target - index - 1 > 255) {
        throw new Error(`seccomp filter: bad jump from ${index} to ${label}`);
      }
      return target - index - 1;
    };
    switch (instruction.op) {
      case "load":
        view.setUint16(at, LD_W_ABS, true);
        view.setUint32(at + 4, instruction.offset, true);
        break;
      case "jeq":
      case "jge":
        view.setUint16(at, instruction.op === "jeq" ? JEQ_K : JGE_K, true);
        view.setUint8(at + 2, jump(instruction.then));
        view.setUint8(at + 3, jump(instruction.else));
        view.setUint32(at + 4, instruction.value >>> 0, true);
        break;
      case "return":
        view.setUint16(at, RET_K, true);
        view.setUint32(at + 4, instruction.value >>> 0, true);
        break;
    }
  });
  return bytes;
}
