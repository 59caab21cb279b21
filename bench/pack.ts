/**
 * Packing: hash + encode a generated tree of 2,000 files / 200 MB (30% binary) with
 * `pack()` + `deploymentBody()`, vs `git hash-object --stdin-paths` over the same files.
 * Best of 3 each, alternating, with warm page cache. Target ≤ 1.5× git's time.
 *
 * @module
 */
import { join } from "node:path";
import { deploymentBody, pack } from "../lib/packer.ts";
import { ms, report } from "./report.ts";
import { generateTree } from "./tree.ts";

const files = Number(Deno.env.get("BENCH_PACK_FILES") ?? 2000);
const megabytes = Number(Deno.env.get("BENCH_PACK_MB") ?? 200);
const root = await Deno.makeTempDir({ prefix: "dt-bench-pack-" });
try {
  const paths = await generateTree(root, {
    count: files,
    totalBytes: megabytes * 1e6,
    binaryShare: 0.3,
  });
  const list = paths.join("\n") + "\n";

  const git = async () => {
    const start = performance.now();
    const child = new Deno.Command("git", {
      args: ["hash-object", "--no-filters", "--stdin-paths"],
      cwd: root,
      stdin: "piped",
      stdout: "null",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(list));
    await writer.close();
    if (!(await child.status).success) throw new Error("git hash-object failed");
    return performance.now() - start;
  };
  const ours = async () => {
    const start = performance.now();
    const packed = await pack({ root });
    const hashed = performance.now() - start;
    let bytes = 0;
    for await (const chunk of deploymentBody({ entryPointUrl: "main.ts", envVars: {} }, packed)) {
      bytes += chunk.byteLength;
    }
    return { hashed, total: performance.now() - start, bytes };
  };

  const gitTimes: number[] = [];
  const ourTimes: { hashed: number; total: number; bytes: number }[] = [];
  for (let round = 0; round < 3; round++) {
    gitTimes.push(await git());
    ourTimes.push(await ours());
  }
  const baseline = Math.min(...gitTimes);
  const hashed = Math.min(...ourTimes.map((t) => t.hashed));
  const total = Math.min(...ourTimes.map((t) => t.total));
  const label = `${files.toLocaleString("en")} files / ${megabytes} MB, 30% binary`;
  report({
    name: `packing: hash (pack) ${label}`,
    value: ms(hashed),
    baseline: `${ms(baseline)} (git hash-object)`,
    ratio: hashed / baseline,
    target: "≤ 1.5×",
    met: hashed / baseline <= 1.5,
  });
  report({
    name: `packing: hash + encode the body (${(ourTimes[0].bytes / 1e6).toFixed(0)} MB JSON)`,
    value: ms(total),
    baseline: `${ms(baseline)} (git hash-object)`,
    ratio: total / baseline,
    target: "≤ 1.5×",
    met: total / baseline <= 1.5,
  });
} finally {
  await Deno.remove(join(root), { recursive: true });
}
