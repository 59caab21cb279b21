/**
 * `deploy`, `invoke`, `deployments` and `logs` against a real local host: the CRM lead hook,
 * a tree with binary files, nested folders and a symlink, asset reuse, and a failed build.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli, startTestHost } from "./helpers/host.ts";
import { pack } from "../lib/packer.ts";
import type { Deployment } from "../lib/types.ts";
import { UploadCache } from "../lib/upload_cache.ts";

const HOOKS = new URL("../examples/hooks", import.meta.url).pathname;

type Deployed = Deployment & {
  url: string;
  upload: { files: number; reusedFiles: number; bytesSent: number };
};

const LEAD = JSON.stringify({
  name: "Ada Lovelace",
  email: "ada@acme.example",
  company: "Acme",
  employees: 120,
  source: "webinar",
}); // 30 (business email) + 15 (company) + 15 (50+ employees) + 10 (webinar) = 70

Deno.test("deploy the CRM lead hook and call it", async (t) => {
  const host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  try {
    assert.equal((await cli("project", "create", "crm-lead-hook")).code, 0);

    let first: Deployed;
    await t.step("deploy takes the project from deno.json and prints the URL", async () => {
      first = jsonOf<Deployed>(await cli("deploy", HOOKS, "--json"));
      assert.equal(first.status, "success");
      assert.equal(first.url, `http://${first.domains![0]}:${host.port}/`);
      assert.deepEqual({ ...first.upload, bytesSent: 0 }, {
        files: 2,
        reusedFiles: 0,
        bytesSent: 0,
      });
      const mainTs = await Deno.stat(join(HOOKS, "main.ts"));
      assert.ok(first.upload.bytesSent > mainTs.size);

      const human = await cli("deploy", HOOKS);
      assert.equal(human.code, 0, describe(human));
      assert.match(human.stdout, /^Deployed \w+ to project crm-lead-hook$/m);
      assert.match(human.stdout, /^http:\/\/crm-lead-hook-\w+\.localhost:\d+\/$/m);
      assert.match(human.stderr, /Packed 2 files .*2 already uploaded/);
    });

    await t.step("invoke by id returns the hook's decision", async () => {
      const result = await cli("invoke", first.id, "/lead", "-d", LEAD);
      assert.equal(result.code, 0, describe(result));
      const decision = JSON.parse(result.stdout);
      assert.equal(decision.action, "route-to-sales");
      assert.equal(decision.score, 70);
      assert.ok(Array.isArray(decision.reasons));

      const fromStdin = await runCli(
        ["invoke", first.id, "/lead", "-d", "@-", "-H", "content-type: application/json"],
        { env: host.env, stdin: LEAD },
      );
      assert.equal(fromStdin.code, 0, describe(fromStdin));
      assert.equal(JSON.parse(fromStdin.stdout).score, 70);
    });

    let strict: Deployed;
    await t.step("--env MIN_SCORE changes the decision", async () => {
      strict = jsonOf<Deployed>(await cli("deploy", HOOKS, "--env", "MIN_SCORE=80", "--json"));
      assert.equal(strict.status, "success");
      const result = await cli("invoke", strict.url, "/lead", "-d", LEAD);
      assert.equal(result.code, 0, describe(result));
      assert.equal(JSON.parse(result.stdout).action, "nurture");

      const about = await cli("invoke", strict.url);
      assert.match(about.stdout, /MIN_SCORE=80/);
    });

    await t.step("--env-file sets variables, --env overrides them", async () => {
      const envFile = join(host.tempDir, "hook.env");
      await Deno.writeTextFile(
        envFile,
        '# lead hook\nexport MIN_SCORE="90"\nSALES_EMAIL_DOMAIN_BLOCKLIST=acme.example\n',
      );
      const blocked = jsonOf<Deployed>(await cli("deploy", HOOKS, "--env-file", envFile, "--json"));
      const rejected = JSON.parse((await cli("invoke", blocked.url, "/lead", "-d", LEAD)).stdout);
      assert.equal(rejected.action, "reject");

      const lenient = jsonOf<Deployed>(
        await cli(
          "deploy",
          HOOKS,
          "--env-file",
          envFile,
          "--env",
          "SALES_EMAIL_DOMAIN_BLOCKLIST=",
          "--env",
          "MIN_SCORE=10",
          "--json",
        ),
      );
      const routed = JSON.parse((await cli("invoke", lenient.url, "/lead", "-d", LEAD)).stdout);
      assert.equal(routed.action, "route-to-sales");
    });

    await t.step("deploying unchanged files sends them by hash only", async () => {
      const again = jsonOf<Deployed>(await cli("deploy", HOOKS, "--json"));
      assert.equal(again.status, "success");
      assert.equal(again.upload.files, 2);
      assert.equal(again.upload.reusedFiles, again.upload.files);
      assert.ok(
        again.upload.bytesSent < first.upload.bytesSent / 2 && again.upload.bytesSent < 1024,
        `sent ${again.upload.bytesSent} bytes, first time ${first.upload.bytesSent}`,
      );
      const dryRun = jsonOf<{ files: { reused: boolean }[] }>(
        await cli("deploy", HOOKS, "--dry-run", "--json"),
      );
      assert.ok(dryRun.files.every((file) => file.reused));
    });

    await t.step("a stale upload cache is corrected by sending the content", async () => {
      // New content whose hashes the cache claims were uploaded (as if the server was reset).
      const dir = join(host.tempDir, "stale");
      await Deno.mkdir(dir);
      await Deno.copyFile(join(HOOKS, "deno.json"), join(dir, "deno.json"));
      await Deno.writeTextFile(
        join(dir, "main.ts"),
        `${await Deno.readTextFile(join(HOOKS, "main.ts"))}\n// a new version\n`,
      );
      const packed = await pack({ root: dir });
      const cache = await UploadCache.open(
        join(host.env.XDG_CACHE_HOME, "deploy-tenant"),
        host.apiUrl,
        host.organizationId,
      );
      cache.add(packed.entries.flatMap((entry) => entry.kind === "file" ? [entry.gitSha1] : []));
      await cache.save();

      const retried = await cli("deploy", dir);
      assert.equal(retried.code, 0, describe(retried));
      assert.match(retried.stderr, /sending them again with content/);
      const again = jsonOf<Deployed>(await cli("deploy", dir, "--json"));
      assert.equal(again.status, "success");
      assert.equal(again.upload.reusedFiles, 2);
    });

    await t.step("invoke reports the hook's 400 and exits 1 only with --fail", async () => {
      const badJson = await cli("invoke", first.id, "/lead", "-d", "{not json", "-i");
      assert.equal(badJson.code, 0, describe(badJson));
      assert.match(badJson.stderr, /^HTTP 400/m);
      assert.match(badJson.stderr, /^content-type: application\/json/m);
      assert.ok(JSON.parse(badJson.stdout).error);

      const failing = await cli("invoke", first.id, "/lead", "-d", "{not json", "--fail");
      assert.equal(failing.code, 1, describe(failing));

      const json = jsonOf<{ status: number; body: { error: string } }>(
        await cli("invoke", first.id, "/lead", "-d", "{not json", "--json"),
      );
      assert.equal(json.status, 400);
      assert.match(json.body.error, /not valid JSON/);
    });

    await t.step("deployments list, show and delete", async () => {
      const list = jsonOf<Deployed[]>(await cli("deployments", "list", "crm-lead-hook", "--json"));
      assert.ok(list.some((d) => d.id === first.id));
      assert.ok(list.every((d) => d.status === "success"));

      const table = await cli("deployments", "list", "crm-lead-hook");
      assert.match(table.stdout, new RegExp(`^${first.id}\\s+success`, "m"));

      const shown = jsonOf<Deployed>(await cli("deployments", "show", first.id, "--json"));
      assert.equal(shown.url, first.url);

      // --yes is accepted by every command that deletes (scripts pass it to all of them).
      const deleted = await cli("deployments", "delete", strict.id, "--yes");
      assert.equal(deleted.code, 0, describe(deleted));
      const missing = await cli("deployments", "show", strict.id);
      assert.equal(missing.code, 4, describe(missing));
    });

    await t.step("deploy to an unknown project exits 4", async () => {
      const result = await cli("deploy", HOOKS, "--project", "no-such-project");
      assert.equal(result.code, 4, describe(result));
      assert.match(result.stderr, /no-such-project/);
    });

    await t.step("--no-wait returns the pending deployment", async () => {
      const pending = jsonOf<Deployed>(await cli("deploy", HOOKS, "--no-wait", "--json"));
      assert.ok(["pending", "success"].includes(pending.status), pending.status);
      const logs = await cli("logs", pending.id, "--build"); // follows until the build ends
      assert.equal(logs.code, 0, describe(logs));
      const done = jsonOf<Deployed>(await cli("deployments", "show", pending.id, "--json"));
      assert.equal(done.status, "success");
    });
  } catch (error) {
    console.error(`--- host output\n${host.output()}`);
    throw error;
  } finally {
    await host.stop();
  }
});

Deno.test("deploy a tree with binary files, nested folders and a symlink", async (t) => {
  const host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  try {
    const dir = join(host.tempDir, "site");
    const binary = new Uint8Array(70_000);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) % 256; // every byte value
    const nested = "nested text ✓\n";
    await Deno.mkdir(join(dir, "assets", "img"), { recursive: true });
    await Deno.mkdir(join(dir, "a", "b", "c"), { recursive: true });
    await Deno.writeFile(join(dir, "assets", "img", "logo.bin"), binary);
    await Deno.writeTextFile(join(dir, "a", "b", "c", "deep.txt"), nested);
    await Deno.writeTextFile(join(dir, "empty.txt"), "");
    await Deno.symlink(join("a", "b", "c", "deep.txt"), join(dir, "link.txt"));
    await Deno.writeTextFile(
      join(dir, "main.ts"),
      `export default {
  async fetch(request: Request) {
    const path = decodeURIComponent(new URL(request.url).pathname).slice(1);
    try {
      return new Response(await Deno.readFile(new URL(path, import.meta.url)));
    } catch (error) {
      return new Response(String(error), { status: 404 });
    }
  },
};
`,
    );
    assert.equal((await cli("project", "create", "files-site")).code, 0);

    let deployed: Deployed;
    await t.step("deploy sends every file, binary ones as base64", async () => {
      const dryRun = jsonOf<{ files: { path: string; encoding: string }[] }>(
        await cli("deploy", dir, "-p", "files-site", "--dry-run", "--json"),
      );
      const encodings = Object.fromEntries(dryRun.files.map((f) => [f.path, f.encoding]));
      assert.equal(encodings["assets/img/logo.bin"], "base64");
      assert.equal(encodings["a/b/c/deep.txt"], "utf-8");

      deployed = jsonOf<Deployed>(await cli("deploy", dir, "-p", "files-site", "--json"));
      assert.equal(deployed.status, "success");
      assert.equal(deployed.upload.files, 4);
    });

    await t.step("the deployment serves the files byte for byte", async () => {
      const logo = await cli("invoke", deployed.url, "/assets/img/logo.bin");
      assert.equal(logo.code, 0, describe(logo));
      assert.deepEqual(logo.stdoutBytes, binary);

      const deep = await cli("invoke", deployed.url, "/a/b/c/deep.txt");
      assert.equal(deep.stdout, nested);
      const viaLink = await cli("invoke", deployed.url, "/link.txt");
      assert.equal(viaLink.stdout, nested);
      const empty = await cli("invoke", deployed.url, "/empty.txt");
      assert.equal(empty.code, 0, describe(empty));
      assert.equal(empty.stdout, "");
    });
  } catch (error) {
    console.error(`--- host output\n${host.output()}`);
    throw error;
  } finally {
    await host.stop();
  }
});

Deno.test("a build that fails exits 1 with the error, and logs --build shows it", async (t) => {
  const host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  try {
    const dir = join(host.tempDir, "broken");
    await Deno.mkdir(dir);
    await Deno.writeTextFile(
      join(dir, "main.ts"),
      'throw new Error("CRM_API_KEY is not configured");\nexport default { fetch: () => new Response("never") };\n',
    );
    assert.equal((await cli("project", "create", "broken-hook")).code, 0);

    let id = "";
    await t.step("deploy exits 1 and prints the build error", async () => {
      const human = await cli("deploy", dir, "-p", "broken-hook");
      assert.equal(human.code, 1, describe(human));
      // The log streamed above it: the error is its verdict, in one line.
      assert.match(human.stderr, /^error: The build failed: .*CRM_API_KEY is not configured/m);
      assert.match(human.stderr, /^hint: .*logs \w+ --build/m);

      const json = await cli("deploy", dir, "-p", "broken-hook", "--json");
      assert.equal(json.code, 1, describe(json));
      const deployment = jsonOf<Deployed>(json);
      assert.equal(deployment.status, "failed");
      id = deployment.id;
      const { error } = JSON.parse(json.stderr);
      assert.equal(error.code, "buildFailed");
      assert.match(error.message, /CRM_API_KEY is not configured/);
    });

    await t.step("logs --build shows the error", async () => {
      const logs = await cli("logs", id, "--build");
      assert.equal(logs.code, 0, describe(logs));
      assert.match(logs.stdout, /CRM_API_KEY is not configured/);

      const ndjson = await cli("logs", id, "--build", "--json");
      const lines = ndjson.stdout.trim().split("\n").map((line) => JSON.parse(line));
      assert.ok(lines.some((line) => line.level === "error"));
    });

    await t.step("invoking a failed deployment exits 1 and says why", async () => {
      const result = await cli("invoke", id);
      assert.equal(result.code, 1, describe(result));
      assert.match(result.stderr, /failed/);
    });
  } catch (error) {
    console.error(`--- host output\n${host.output()}`);
    throw error;
  } finally {
    await host.stop();
  }
});
