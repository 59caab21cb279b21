import assert from "node:assert/strict";
import { readTenantOutput, TAG } from "../host/tenant/output.ts";
import type { LogLevel } from "../lib/types.ts";

/** Feeds `chunks` as one stream and collects what the reader reports. */
async function read(kind: "stdout" | "stderr", chunks: string[]) {
  const lines: [LogLevel, string][] = [];
  const kv: [number, number][] = [];
  const encoder = new TextEncoder();
  const stream = ReadableStream.from(chunks.map((chunk) => encoder.encode(chunk)));
  await readTenantOutput(stream, kind, {
    log: (level, message) => lines.push([level, message]),
    kv: (reads, writes) => kv.push([reads, writes]),
  });
  return { lines, kv };
}

const tagged = (record: unknown) => `${TAG}${JSON.stringify(record)}\n`;

Deno.test("tagged lines keep their level and multi-line messages whole", async () => {
  const { lines } = await read("stdout", [
    tagged({ level: "debug", message: "detail" }),
    tagged({ level: "warning", message: "first\nsecond" }) +
    tagged({ level: "error", message: "x" }),
  ]);
  assert.deepEqual(lines, [["debug", "detail"], ["warning", "first\nsecond"], ["error", "x"]]);
});

Deno.test("a tagged line split across chunks (even inside a character) is read whole", async () => {
  const line = tagged({ level: "info", message: "héllo wörld" });
  const bytes = new TextEncoder().encode(line);
  const stream = ReadableStream.from([bytes.slice(0, 12), bytes.slice(12, 19), bytes.slice(19)]);
  const lines: string[] = [];
  await readTenantOutput(stream, "stdout", { log: (_level, message) => lines.push(message) });
  assert.deepEqual(lines, ["héllo wörld"]);
});

Deno.test("untagged stdout is info, line by line; blank lines and colours are dropped", async () => {
  const { lines } = await read("stdout", ["plain one\n\n\x1b[32mgreen\x1b[39m\r\nlast"]);
  assert.deepEqual(lines, [["info", "plain one"], ["info", "green"], ["info", "last"]]);
});

Deno.test("untagged stderr is error, and an indented stack stays with its first line", async () => {
  const { lines } = await read("stderr", [
    "error: Uncaught Error: boom\n    at handler (file:///app/main.ts:3:9)\n    at run (x:1:1)\n",
    "another line\n",
    "warning: Detected export default { fetch }, use deno serve\n",
  ]);
  assert.deepEqual(lines, [
    [
      "error",
      "error: Uncaught Error: boom\n    at handler (file:///app/main.ts:3:9)\n    at run (x:1:1)",
    ],
    ["error", "another line"],
  ]);
});

Deno.test("KV reports are counted, and malformed tags are plain output", async () => {
  const { lines, kv } = await read("stdout", [
    tagged({ kv: [3, 2] }),
    tagged({ kv: [-1, 5] }),
    `${TAG}{not json\n`,
    tagged({ level: "fatal", message: "unknown level" }),
  ]);
  assert.deepEqual(kv, [[3, 2]]);
  assert.equal(lines.length, 3);
  assert.ok(lines.every(([level]) => level === "info"));
  assert.match(lines[0][1], /"kv":\[-1,5\]/);
});

Deno.test("indented stderr that never ends a chunk at a newline is not held without bound", async () => {
  // Each chunk ends mid-line, so no chunk ends with an empty buffer: 8 MiB of continuation
  // lines once grew one held entry (in the host's heap) as long as the tenant kept writing.
  const line = "  " + "x".repeat(100_000);
  const chunks = Array.from({ length: 80 }, () => `${line}\n${line.slice(0, 50)}`);
  const { lines } = await read("stderr", chunks);
  const longest = Math.max(...lines.map(([, message]) => message.length));
  assert.ok(longest <= 32 * 1024 * 8, `an entry of ${longest} characters was held`);
  // Nothing is lost: it is logged in entries of a bounded length instead.
  assert.ok(lines.every(([level]) => level === "error"));
  assert.ok(lines.length > 1);
});

Deno.test("a tenant's output is read at most at the host's rate: past it, the reader waits", async () => {
  // Each line costs the host's event loop; one tenant writing as fast as a pipe takes kept it
  // busy. Past the rate the host reads on a moment later (the tenant's writes wait meanwhile).
  const line = tagged({ kv: [1, 0] });
  const chunk = new TextEncoder().encode(line.repeat(Math.floor(65536 / line.length)));
  const read = async (chunks: number) => {
    let reads = 0;
    const started = performance.now();
    await readTenantOutput(
      ReadableStream.from(Array.from({ length: chunks }, () => chunk)),
      "stdout",
      { log: () => {}, kv: (n) => reads += n },
      { bytesPerSecond: 1024 * 1024, linesPerSecond: Infinity },
    );
    assert.equal(reads, chunks * Math.floor(65536 / line.length), "every record is read");
    return performance.now() - started;
  };
  // A second's worth goes through at once; past it, the rate: 3 MiB take 2 s more.
  const burst = await read(8); // 512 KiB
  assert.ok(burst < 500, `512 KiB at 1 MiB/s were read in ${burst.toFixed(0)} ms`);
  const ms = await read(48); // 3 MiB
  assert.ok(ms >= 1_800, `3 MiB at 1 MiB/s were read in ${ms.toFixed(0)} ms`);
});

Deno.test("a tenant's output is read at most at the host's line rate, however short its lines", async () => {
  // What a line costs the host does not depend on its length: 64 KiB of short records is
  // ~5 000 lines, well within the byte rate.
  const line = tagged({ kv: [1, 0] });
  const chunk = new TextEncoder().encode(line.repeat(Math.floor(65536 / line.length)));
  const perChunk = Math.floor(65536 / line.length);
  let reads = 0;
  const started = performance.now();
  await readTenantOutput(
    ReadableStream.from(Array.from({ length: 7 }, () => chunk)),
    "stdout",
    { log: () => {}, kv: (n) => reads += n },
    { linesPerSecond: perChunk * 2 },
  );
  const ms = performance.now() - started;
  assert.equal(reads, 7 * perChunk, "every record is read");
  // Two chunks are a second's worth, which goes through at once; five more take 2.5 s.
  assert.ok(
    ms >= 2_000,
    `${7 * perChunk} lines at ${perChunk * 2} a second were read in ${ms.toFixed(0)} ms`,
  );
});
