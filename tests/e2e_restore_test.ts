/**
 * A restarted host starts again the deployments that were warm before it stopped, before it
 * says it is ready: their callers do not see the restart as a cold start.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli, startTestHost } from "./helpers/host.ts";
import type { Deployment } from "../lib/types.ts";

/** Says when its process imported it: before a request means the process was started before. */
const BOOT_STAMP = `const bootedAt = Date.now();
export default { fetch: () => Response.json({ bootedAt }) };
`;

Deno.test("a restarted host starts the deployments that were warm again before it is ready", async () => {
  const root = await Deno.makeTempDir({ prefix: "dt-restore-e2e-" });
  const dataDir = join(root, "data");
  const args = ["--warm-pool-memory", "64m"]; // room to restore four
  let host = await startTestHost({ dataDir, args });
  try {
    const cli = (...argv: string[]) => runCli(argv, { env: host.env });
    const app = join(root, "app");
    await Deno.mkdir(app);
    await Deno.writeTextFile(join(app, "main.ts"), BOOT_STAMP);
    assert.equal((await cli("project", "create", "stamps")).code, 0);
    const urls: string[] = [];
    for (let i = 0; i < 2; i++) {
      const deployed = await cli("deploy", app, "--project", "stamps", "--json");
      assert.equal(deployed.code, 0, describe(deployed));
      urls.push(jsonOf<Deployment & { url: string }>(deployed).url);
    }
    const bootedAt = async (url: string) => {
      const result = await runCli(["invoke", url, "--json"], { env: host.env });
      assert.equal(result.code, 0, describe(result));
      return jsonOf<{ body: { bootedAt: number } }>(result).body.bootedAt;
    };
    for (const url of urls) await bootedAt(url); // warm, and used

    await host.stop();
    host = await startTestHost({ dataDir, args });
    const ready = Date.now();
    for (const url of urls) {
      const port = new URL(url).port;
      const now = url.replace(`:${port}/`, `:${host.port}/`);
      assert.ok((await bootedAt(now)) < ready, `${now} was started before the host was ready`);
    }
    assert.match(host.output(), /restored 2 deployments that were warm before the restart/);
  } finally {
    await host.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a host killed outright right after its deploys starts them again too", async () => {
  const root = await Deno.makeTempDir({ prefix: "dt-restore-kill-" });
  const dataDir = join(root, "data");
  const args = ["--warm-pool-memory", "64m"];
  let host = await startTestHost({ dataDir, args });
  try {
    const cli = (...argv: string[]) => runCli(argv, { env: host.env });
    const app = join(root, "app");
    await Deno.mkdir(app);
    await Deno.writeTextFile(join(app, "main.ts"), BOOT_STAMP);
    assert.equal((await cli("project", "create", "killed")).code, 0);
    const deployed = await cli("deploy", app, "--project", "killed", "--json");
    assert.equal(deployed.code, 0, describe(deployed));
    const { id } = jsonOf<Deployment>(deployed);
    // Well within the runtime's 5 s sweep, past the save that follows a process coming up.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await host.stop("SIGKILL");
    host = await startTestHost({ dataDir, args });
    assert.match(host.output(), /restored 1 deployment that was warm before the restart/);
    const result = await runCli(["invoke", id, "--json"], { env: host.env });
    assert.equal(result.code, 0, describe(result));
  } finally {
    await host.stop();
    await Deno.remove(root, { recursive: true });
  }
});
