/**
 * Deploy over v2 vs v1 with hash reuse: the same unchanged 2,000-file tree deployed again and
 * again through `deploy()` on one local host, over v1 with an upload cache (files the
 * organization already uploaded go as `{kind:"file", gitSha1}` only) and over v2
 * (`POST /v2/apps/{app}/deploy`, which has no gitSha1 form: every file's content goes up every
 * time). Measured per deploy: request body bytes and wall time from the call to a built
 * deployment (v1 `success`, v2 `succeeded`); median of `BENCH_RUNS` rounds (default 5), the two
 * paths taking turns going first. A reference figure: the price of v2's missing hash reuse,
 * with no target of its own.
 *
 * @module
 */
import { deploy, type DeployResult } from "../lib/deploy.ts";
import { UploadCache } from "../lib/upload_cache.ts";
import { V2Api } from "../lib/v2_api.ts";
import { startBenchHost } from "./host.ts";
import { ms, percentile, report } from "./report.ts";
import { generateTree } from "./tree.ts";

const files = Number(Deno.env.get("BENCH_REDEPLOY_FILES") ?? 2000);
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 5);
const root = await Deno.makeTempDir({ prefix: "dt-bench-v2-" });
const host = await startBenchHost(`${root}/data`);
try {
  if (!host.apiV2Url) throw new Error("the host does not announce a v2 API (apiV2Url)");
  const v2 = new V2Api({
    baseUrl: host.apiV2Url,
    token: host.token,
    org: host.organizationSlug ?? host.api.organizationId,
  });
  const tree = `${root}/tree`;
  await generateTree(tree, { count: files, totalBytes: files * 8_000, binaryShare: 0.3 });
  await host.api.projects.create({ name: "bench-v1-reuse" });
  await v2.projects.create({ name: "bench-v2" });
  const cache = await UploadCache.open(`${root}/cache`, host.apiUrl, host.api.organizationId);
  const v1Options = { api: host.api, project: "bench-v1-reuse", root: tree, cache };
  const v2Options = { api: v2, project: "bench-v2", root: tree };

  /** One deploy to a built deployment: body bytes and wall time. */
  const timed = async (options: Parameters<typeof deploy>[0]) => {
    const start = performance.now();
    const result: DeployResult = await deploy(options);
    const elapsed = performance.now() - start;
    if (result.deployment.status !== "success") {
      throw new Error(`deploying over ${options.api.version} failed: ${result.buildError}`);
    }
    return { elapsed, result };
  };

  // The first v1 deploy fills the upload cache; the first v2 one warms its client paths.
  await timed(v1Options);
  await timed(v2Options);

  const v1Times: number[] = [], v2Times: number[] = [];
  const v1Bytes: number[] = [], v2Bytes: number[] = [];
  let v1Reused = 0;
  for (let i = 0; i < runs; i++) {
    for (const path of i % 2 === 0 ? ["v1", "v2"] : ["v2", "v1"]) {
      if (path === "v1") {
        const { elapsed, result } = await timed(v1Options);
        if (result.upload.reusedFiles !== result.upload.files) {
          throw new Error(
            `v1 reused only ${result.upload.reusedFiles} of ${result.upload.files} files`,
          );
        }
        v1Reused = result.upload.reusedFiles;
        v1Times.push(elapsed);
        v1Bytes.push(result.upload.bytesSent);
      } else {
        const { elapsed, result } = await timed(v2Options);
        v2Times.push(elapsed);
        v2Bytes.push(result.upload.bytesSent);
      }
    }
  }

  const v1B = percentile(v1Bytes, 50), v2B = percentile(v2Bytes, 50);
  const v1T = percentile(v1Times, 50), v2T = percentile(v2Times, 50);
  const label = `${files.toLocaleString("en")}-file tree`;
  report({
    name: `v2 deploy of an unchanged ${label}: bytes sent (median of ${runs})`,
    value: `${(v2B / 1e6).toFixed(1)} MB (v2, every file's content)`,
    baseline: `${(v1B / 1e3).toFixed(1)} kB (v1 with hash reuse, ${v1Reused} files reused)`,
    ratio: v2B / v1B,
    target: "reference",
    met: true,
    reference: true,
  });
  report({
    name: `v2 deploy of an unchanged ${label}: time to built (median of ${runs})`,
    value: `${ms(v2T)} (v2; p90 ${ms(percentile(v2Times, 90))})`,
    baseline: `${ms(v1T)} (v1 with hash reuse; p90 ${ms(percentile(v1Times, 90))})`,
    ratio: v2T / v1T,
    target: "reference",
    met: true,
    reference: true,
  });
} finally {
  await host.stop();
  await Deno.remove(root, { recursive: true });
}
