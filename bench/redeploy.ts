/**
 * Redeploy: bytes sent redeploying an unchanged 2,000-file tree vs its first deploy, through
 * the library with a fresh upload cache. Target ≤ 1%.
 *
 * @module
 */
import { deploy } from "../lib/deploy.ts";
import { UploadCache } from "../lib/upload_cache.ts";
import { startBenchHost } from "./host.ts";
import { report } from "./report.ts";
import { generateTree } from "./tree.ts";

const files = Number(Deno.env.get("BENCH_REDEPLOY_FILES") ?? 2000);
const root = await Deno.makeTempDir({ prefix: "dt-bench-redeploy-" });
const host = await startBenchHost(`${root}/data`);
try {
  const tree = `${root}/tree`;
  await generateTree(tree, { count: files, totalBytes: files * 8_000, binaryShare: 0.3 });
  await host.api.projects.create({ name: "bench-redo" });
  const cache = await UploadCache.open(`${root}/cache`, host.apiUrl, host.api.organizationId);
  const options = { api: host.api, project: "bench-redo", root: tree, cache };
  const first = await deploy(options);
  const second = await deploy(options);
  if (second.deployment.status !== "success") throw new Error("the redeploy failed");
  const ratio = second.upload.bytesSent / first.upload.bytesSent;
  report({
    name: `redeploy of an unchanged ${files.toLocaleString("en")}-file tree: bytes sent`,
    value: `${
      (second.upload.bytesSent / 1e3).toFixed(1)
    } kB (${second.upload.reusedFiles} files reused)`,
    baseline: `${(first.upload.bytesSent / 1e6).toFixed(1)} MB (first deploy)`,
    ratio,
    target: "≤ 0.01×",
    met: ratio <= 0.01,
  });
} finally {
  await host.stop();
  await Deno.remove(root, { recursive: true });
}
