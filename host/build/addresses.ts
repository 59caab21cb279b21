/**
 * Which IP addresses a deployment's fetches may never reach: this machine (loopback and its
 * own interface addresses), private, shared (CGNAT), link-local, unspecified, multicast and
 * reserved ranges, in IPv4 and IPv6 (IPv4-mapped and NAT64 forms read as the IPv4 inside).
 *
 * @module
 */
import { localAddresses } from "../tenant/sandbox.ts";

const DENIED_V4: readonly [string, number][] = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
];

const DENIED_V6: readonly [string, number][] = [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
];

/** Whether `address` (IPv4 or IPv6, brackets allowed) is one no deployment may reach. */
export function isDeniedAddress(address: string): boolean {
  const text = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "").toLowerCase();
  const v4 = parseV4(text);
  if (v4 !== undefined) return deniedV4(v4) || isOwn(text);
  const v6 = parseV6(text);
  if (v6 === undefined) return true; // not an address: refuse rather than guess
  // ::ffff:a.b.c.d and 64:ff9b::a.b.c.d carry an IPv4 address.
  const embedded = v6 & 0xffffffffn;
  const prefix96 = v6 >> 32n;
  if (prefix96 === 0xffffn || prefix96 === 0x64ff9b0000000000000000n) {
    return deniedV4(Number(embedded)) || isOwn(v4Text(Number(embedded)));
  }
  return DENIED_V6.some(([base, bits]) => inRange(v6, parseV6(base)!, bits, 128)) ||
    isOwn(text);
}

function deniedV4(value: number): boolean {
  return DENIED_V4.some(([base, bits]) => inRange(BigInt(value), BigInt(parseV4(base)!), bits, 32));
}

function inRange(value: bigint, base: bigint, bits: number, width: number): boolean {
  const shift = BigInt(width - bits);
  return (value >> shift) === (base >> shift);
}

function isOwn(address: string): boolean {
  return localAddresses().some((own) => own.replace(/^\[|\]$/g, "").toLowerCase() === address);
}

function parseV4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return undefined;
  }
  return parts.reduce((sum, part) => sum * 256 + Number(part), 0);
}

function v4Text(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

function parseV6(text: string): bigint | undefined {
  if (!text.includes(":")) return undefined;
  let head = text;
  let tailV4: number | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tailV4 = parseV4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string) => part === "" ? [] : part.split(":");
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - left.length - right.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return undefined;
  const all = [...left, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...right];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  let value = all.reduce((sum, group) => (sum << 16n) + BigInt(parseInt(group, 16)), 0n);
  if (tailV4 !== undefined) value = (value >> 32n << 32n) + BigInt(tailV4);
  return value;
}
