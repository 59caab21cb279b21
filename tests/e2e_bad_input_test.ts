/**
 * `deploy` on directories that cannot be deployed, run as a subprocess against a real host:
 * each gets a clear message naming the problem and the right exit code, and the host
 * receives no deployment.
 *
 * Covered elsewhere and not repeated here: a missing directory, a file instead of one, a
 * malformed `--env` and `.env` (tests/cli_usage_test.ts, against a server that counts
 * requests: nothing at all is sent) and an unknown project (tests/e2e_deploy_test.ts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, runCli, startTestHost, type TestHost } from "./helpers/host.ts";

const MAIN_TS = 'export default { fetch: () => new Response("hi") };\n';
const isRoot = Deno.uid() === 0;

/** Makes a directory with a `main.ts` and lets `setup` add the trouble. */
async function app(host: TestHost, name: string, setup: (dir: string) => Promise<void>) {
  const dir = join(host.tempDir, name);
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, "main.ts"), MAIN_TS);
  await setup(dir);
  return dir;
}

async function api<T>(host: TestHost, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${host.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${host.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return JSON.parse(text);
}

/**
 * Creates a file whose name has the byte 0xFF. Deno turns such names into U+FFFD both ways,
 * so the file is made by `sh`; `false` when that is not possible here.
 */
async function createNonUtf8File(dir: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("sh", {
      args: ["-c", 'printf x > "$1/bad$(printf "\\377").ts"', "sh", dir],
    }).output();
    return success;
  } catch {
    return false;
  }
}

Deno.test("deploy refuses directories it cannot deploy, and sends no deployment", async (t) => {
  const host = await startTestHost();
  try {
    const project = await api<{ id: string; name: string }>(
      host,
      "POST",
      `/organizations/${host.organizationId}/projects`,
      { name: "bad-input" },
    );
    const deploy = (dir: string, ...args: string[]) =>
      runCli(["deploy", dir, "--project", project.name, ...args], { env: host.env });
    const assertNothingDeployed = async () => {
      const deployments = await api<unknown[]>(host, "GET", `/projects/${project.id}/deployments`);
      assert.deepEqual(deployments, []);
    };

    await t.step("an empty directory exits 2", async () => {
      const dir = join(host.tempDir, "empty");
      await Deno.mkdir(dir);
      const result = await deploy(dir);
      assert.equal(result.code, 2, describe(result));
      assert.match(result.stderr, /No files to deploy in .*empty/);
      await assertNothingDeployed();
    });

    await t.step({
      name: "an unreadable file exits 1 naming it",
      ignore: isRoot, // root reads files whatever their mode
      async fn() {
        const dir = await app(host, "locked", async (dir) => {
          await Deno.writeTextFile(join(dir, "secret.ts"), "x");
          await Deno.chmod(join(dir, "secret.ts"), 0o000);
        });
        const result = await deploy(dir);
        assert.equal(result.code, 1, describe(result));
        assert.match(result.stderr, /Cannot read "secret\.ts": permission denied/);
        await assertNothingDeployed();
      },
    });

    await t.step("symlink loops exit 1 naming the link", async () => {
      const selfLoop = await app(host, "self-loop", async (dir) => {
        await Deno.symlink("loop", join(dir, "loop"));
      });
      const result = await deploy(selfLoop);
      assert.equal(result.code, 1, describe(result));
      assert.match(result.stderr, /Symlink "loop" loops back on itself/);
      assert.match(result.stderr, /--exclude/);

      const parentLoop = await app(host, "parent-loop", async (dir) => {
        await Deno.mkdir(join(dir, "lib"));
        await Deno.symlink("..", join(dir, "lib", "up"));
      });
      const parent = await deploy(parentLoop);
      assert.equal(parent.code, 1, describe(parent));
      assert.match(parent.stderr, /Symlink "lib\/up" loops back on itself/);
      await assertNothingDeployed();
    });

    // The packer refuses on sizes alone; tests/packer_test.ts checks it reads nothing.
    await t.step(
      "a 2 GiB file exits 1 before upload",
      async () => {
        const dir = await app(host, "huge", async (dir) => {
          // Sparse: two gigabytes of size, no disk.
          await Deno.writeFile(join(dir, "video.bin"), new Uint8Array());
          await Deno.truncate(join(dir, "video.bin"), 2 * 1024 ** 3);
        });
        const result = await deploy(dir);
        assert.equal(result.code, 1, describe(result));
        assert.match(result.stderr, /total 2 GiB .* over the limit of 1 GiB/);
        assert.match(result.stderr, /--exclude/);
        await assertNothingDeployed();
      },
    );

    const nonUtf8 = join(host.tempDir, "non-utf8");
    await Deno.mkdir(nonUtf8);
    await Deno.writeTextFile(join(nonUtf8, "main.ts"), MAIN_TS);
    await t.step({
      name: "a file name that is not UTF-8 exits 1 naming the file",
      ignore: !await createNonUtf8File(nonUtf8),
      fn: async () => {
        const result = await deploy(nonUtf8);
        assert.equal(result.code, 1, describe(result));
        assert.match(result.stderr, /The name of "bad\uFFFD\.ts" is not valid UTF-8/);
        assert.match(result.stderr, /rename it, or leave it out with --exclude/);
        await assertNothingDeployed();

        // Left out, the rest deploys: the refusal was about that file only.
        const deployed = await deploy(nonUtf8, "--exclude", "bad*.ts", "--json");
        assert.equal(deployed.code, 0, describe(deployed));
        const deployments = await api<unknown[]>(
          host,
          "GET",
          `/projects/${project.id}/deployments`,
        );
        assert.equal(deployments.length, 1);
      },
    });
  } catch (error) {
    console.error(`--- host output\n${host.output()}`);
    throw error;
  } finally {
    await host.stop();
  }
});
