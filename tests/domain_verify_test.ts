/**
 * Domain verification over DNS, against a small DNS server on loopback (no other network),
 * and the trusted suffixes that skip DNS.
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { DomainVerifier, hostAddresses } from "../host/api/domain_verify.ts";

type Zone = Record<string, { A?: string[]; AAAA?: string[]; CNAME?: string }>;

const TYPES: Record<number, "A" | "AAAA" | "CNAME"> = { 1: "A", 28: "AAAA", 5: "CNAME" };
const TYPE_CODES = { A: 1, AAAA: 28, CNAME: 5 };

/** A DNS server on 127.0.0.1 answering from `zone`; unknown names get NXDOMAIN. */
async function dnsServer(zone: Zone) {
  const socket = createSocket("udp4");
  const queries: string[] = [];
  socket.on("message", (query, peer) => {
    const { name, type, end } = readQuestion(query);
    queries.push(`${TYPES[type] ?? type} ${name}`);
    const entry = zone[name];
    const answers: Uint8Array[] = [];
    const kind = TYPES[type];
    if (entry && kind === "CNAME" && entry.CNAME) answers.push(record(5, encodeName(entry.CNAME)));
    if (entry && (kind === "A" || kind === "AAAA")) {
      for (const ip of entry[kind] ?? []) answers.push(record(TYPE_CODES[kind], ipBytes(ip)));
    }
    const header = new Uint8Array(12);
    header.set(query.subarray(0, 2)); // id
    header[2] = 0x81; // response, recursion desired
    header[3] = entry ? 0x80 : 0x83; // recursion available; NXDOMAIN for unknown names
    header[5] = 1; // one question
    header[7] = answers.length;
    socket.send(concat([header, query.subarray(12, end), ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    port: socket.address().port,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function readQuestion(message: Uint8Array): { name: string; type: number; end: number } {
  const labels: string[] = [];
  let offset = 12;
  while (message[offset] !== 0) {
    const length = message[offset];
    labels.push(new TextDecoder().decode(message.subarray(offset + 1, offset + 1 + length)));
    offset += length + 1;
  }
  const type = (message[offset + 1] << 8) | message[offset + 2];
  return { name: labels.join(".").toLowerCase(), type, end: offset + 5 };
}

/** An answer for the question's name (a pointer to offset 12), class IN, TTL 60. */
function record(type: number, data: Uint8Array): Uint8Array {
  const head = new Uint8Array([
    0xc0,
    12,
    0,
    type,
    0,
    1,
    0,
    0,
    0,
    60,
    data.length >> 8,
    data.length & 255,
  ]);
  return concat([head, data]);
}

function encodeName(name: string): Uint8Array {
  const parts = name.replace(/\.$/, "").split(".").map((label) => {
    const bytes = new TextEncoder().encode(label);
    return concat([new Uint8Array([bytes.length]), bytes]);
  });
  return concat([...parts, new Uint8Array([0])]);
}

function ipBytes(ip: string): Uint8Array {
  if (!ip.includes(":")) return new Uint8Array(ip.split(".").map(Number));
  const [head, tail = ""] = ip.split("::");
  const groups = (part: string) => part ? part.split(":").map((g) => parseInt(g, 16)) : [];
  const left = groups(head);
  const right = groups(tail);
  const all = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  return new Uint8Array(all.flatMap((g) => [g >> 8, g & 255]));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const TOKEN = "6a30d42ce0da4d5013b5e39c";
const ADDRESSES = { ipv4: ["127.0.0.1"], ipv6: ["::1"] };

function verifier(port: number, trustDomains: string[] = []) {
  return new DomainVerifier({
    baseDomain: "localhost",
    addresses: ADDRESSES,
    trustDomains,
    resolver: { ipAddr: "127.0.0.1", port },
    timeoutMs: 3000,
  });
}

Deno.test("dnsRecords: A, AAAA and the _acme-challenge CNAME with the token", () => {
  const records = verifier(53).dnsRecords("shop.example.com", TOKEN);
  assert.deepEqual(records, [
    { type: "A", name: "shop.example.com", content: "127.0.0.1" },
    { type: "AAAA", name: "shop.example.com", content: "::1" },
    {
      type: "CNAME",
      name: "_acme-challenge.shop.example.com",
      content: `${TOKEN}._acme.localhost.`,
    },
  ]);
  const wildcard = verifier(53).dnsRecords("*.example.net", TOKEN);
  assert.equal(wildcard[0].name, "*.example.net");
  assert.equal(wildcard[2].name, "_acme-challenge.example.net");
});

Deno.test("verify: the right records over DNS verify the domain", async () => {
  const dns = await dnsServer({
    "_acme-challenge.shop.example.com": { CNAME: `${TOKEN}._acme.localhost.` },
    "shop.example.com": { A: ["127.0.0.1"] },
  });
  try {
    assert.deepEqual(await verifier(dns.port).verify("shop.example.com", TOKEN), {
      verified: true,
      how: "dns",
    });
    assert.ok(dns.queries.includes("CNAME _acme-challenge.shop.example.com"), dns.queries.join());
    assert.ok(dns.queries.includes("A shop.example.com"), dns.queries.join());
  } finally {
    await dns.close();
  }
});

Deno.test("verify: an AAAA record alone is enough; a wildcard is checked below the *", async () => {
  const dns = await dnsServer({
    "_acme-challenge.example.net": { CNAME: `${TOKEN}._acme.localhost` },
    [`${TOKEN}-probe.example.net`]: { AAAA: ["0:0:0:0:0:0:0:1"] },
  });
  try {
    const result = await verifier(dns.port).verify("*.example.net", TOKEN);
    assert.deepEqual(result, { verified: true, how: "dns" });
  } finally {
    await dns.close();
  }
});

Deno.test("verify: a wrong token or address is not verified, and the problems say why", async () => {
  const dns = await dnsServer({
    "_acme-challenge.shop.example.com": { CNAME: "someone-else._acme.localhost." },
    "shop.example.com": { A: ["192.0.2.7"] },
  });
  try {
    const result = await verifier(dns.port).verify("shop.example.com", TOKEN);
    assert.equal(result.verified, false);
    assert.ok(!result.verified);
    assert.equal(result.problems.length, 2);
    assert.match(
      result.problems[0],
      new RegExp(
        `_acme-challenge.shop.example.com CNAME should be ${TOKEN}\\._acme\\.localhost\\., found someone-else`,
      ),
    );
    assert.match(
      result.problems[1],
      /A\/AAAA should point at 127\.0\.0\.1 or ::1, found 192\.0\.2\.7/,
    );
  } finally {
    await dns.close();
  }
});

Deno.test("verify: no records at all is not verified", async () => {
  const dns = await dnsServer({});
  try {
    const result = await verifier(dns.port).verify("shop.example.com", TOKEN);
    assert.ok(!result.verified);
    assert.match(result.problems.join("\n"), /CNAME should be .*, found none/);
    assert.match(result.problems.join("\n"), /A\/AAAA should point at .*, found none/);
  } finally {
    await dns.close();
  }
});

Deno.test("verify: names under a trusted suffix skip DNS; others do not", async () => {
  const dns = await dnsServer({});
  try {
    const trusting = verifier(dns.port, ["test", ".localhost"]);
    assert.deepEqual(await trusting.verify("shop.test", TOKEN), { verified: true, how: "trusted" });
    assert.deepEqual(await trusting.verify("*.apps.localhost", TOKEN), {
      verified: true,
      how: "trusted",
    });
    assert.deepEqual(dns.queries, []);
    assert.equal((await trusting.verify("shop.nottest", TOKEN)).verified, false);
    assert.equal((await trusting.verify("test.example.com", TOKEN)).verified, false);
  } finally {
    await dns.close();
  }
});

Deno.test("hostAddresses: loopback for a loopback listener, the address for a specific one", () => {
  assert.deepEqual(hostAddresses("127.0.0.1"), ADDRESSES);
  assert.deepEqual(hostAddresses("localhost"), ADDRESSES);
  assert.deepEqual(hostAddresses("192.0.2.10"), { ipv4: ["192.0.2.10"], ipv6: [] });
  assert.deepEqual(hostAddresses("[2001:db8::1]"), { ipv4: [], ipv6: ["2001:db8::1"] });
  // A wildcard listener answers on this machine's addresses: not loopback unless it has none.
  const wildcard = hostAddresses("0.0.0.0");
  const loopbackOnly = wildcard.ipv4[0] === "127.0.0.1" && wildcard.ipv6[0] === "::1";
  const others = Deno.networkInterfaces().filter((i) => !/^(127\.|::1$|fe80:)/i.test(i.address));
  assert.equal(loopbackOnly, others.length === 0, JSON.stringify(wildcard));
});
