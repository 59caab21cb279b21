/**
 * A full disk and an unwritable data dir, made real for the host process alone (nothing here
 * touches the machine's disks or mounts):
 *
 * - full disk: the host runs under `ulimit -f` (RLIMIT_FSIZE), so writing a file past 8 MiB
 *   fails with EFBIG, as a full disk fails with ENOSPC (SIGXFSZ is ignored so the write
 *   returns the error instead of killing the process). The API must answer 507
 *   `insufficientStorage`.
 * - unwritable data dir: the blob store is made read-only for the host. As root permissions do
 *   not bind, so the host runs in its own mount namespace (`unshare --mount`) where the blobs
 *   dir is bind-mounted read-only (EROFS); otherwise the dir is `chmod`ed (EACCES). The API
 *   must answer 500 `storageNotWritable`.
 *
 * Either way what was stored before stays whole: earlier deployments serve and their blobs
 * verify, no temp file is left, and the host goes on serving what needs no new space.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { V1Api } from "../lib/api.ts";
import { gitSha1 } from "../lib/git_sha1.ts";
import type { CreateDeploymentRequest, Deployment } from "../lib/types.ts";
import { BlobStore } from "../host/store/blobs.ts";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { storageFailure } from "../host/api/storage_errors.ts";
import { describe, runCli, startTestHost, type TestHost } from "./helpers/host.ts";
import { requires } from "./helpers/programs.ts";

const FILE_SIZE_LIMIT_BLOCKS = 16384; // `ulimit -f` counts 512-byte blocks: 8 MiB
const MAIN_TS = `const data = await Deno.readTextFile(new URL("./data.txt", import.meta.url));
export default { fetch: () => new Response(data) };
`;

Deno.test("a full disk is 507 insufficientStorage and damages nothing stored", async () => {
  await withStoredDeployment(
    ["sh", "-c", `ulimit -f ${FILE_SIZE_LIMIT_BLOCKS} && trap '' XFSZ && exec "$@"`, "sh"],
    async (host, before) => {
      const api = apiOf(host);
      const big = "x".repeat(9 * 1024 * 1024);
      const response = await createRaw(host, requestWith(big));
      assert.equal(response.status, 507);
      const body = await response.json();
      assert.equal(body.code, "insufficientStorage");
      assert.match(body.message, /storage is full/);
      assert.equal(await new BlobStore(join(host.dataDir, "blobs")).has(gitSha1(big)), false);

      // The CLI says so once (exit 6, the server cannot serve), without retrying a full disk.
      const dir = join(host.tempDir, "big");
      await Deno.mkdir(dir);
      await Deno.writeTextFile(join(dir, "main.ts"), MAIN_TS);
      await Deno.writeTextFile(join(dir, "data.txt"), big + "y");
      const cli = await runCli(["deploy", dir, "--project", "storage"], { env: host.env });
      assert.equal(cli.code, 6, describe(cli));
      assert.match(cli.stderr, /storage is full/, describe(cli));
      assert.doesNotMatch(cli.stderr, /retrying/, describe(cli));

      // What needs little space still works.
      const small = await api.deployments.create(before.projectId, requestWith("small"));
      assert.equal((await waitBuilt(api, small.id)).status, "success");
    },
  );
});

const ROOT = Deno.uid() === 0;

Deno.test(
  requires(ROOT ? ["unshare"] : [], {
    name: "an unwritable data dir is 500 storageNotWritable and damages nothing stored",
    // As root only a mount can make a directory unwritable.
    ignore: ROOT && !await canUnshareMounts(),
  }),
  async () => {
    const root = ROOT;
    // As root: a read-only bind mount of the blobs dir, seen by the host alone.
    const readOnlyMount = [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'blobs=$1; shift; mount --bind "$blobs" "$blobs" && ' +
      'mount -o remount,bind,ro "$blobs" && exec "$@"',
      "sh",
    ];
    await withStoredDeployment(
      (dataDir) => root ? [...readOnlyMount, join(dataDir, "blobs")] : undefined,
      async (host, before, stored) => {
        const blobsDir = join(host.dataDir, "blobs");
        if (!root) {
          await Deno.chmod(blobsDir, 0o555);
          await Deno.chmod(join(blobsDir, ".tmp"), 0o555);
        }
        try {
          const api = apiOf(host);
          const response = await createRaw(host, requestWith("content the host cannot store"));
          assert.equal(response.status, 500);
          const body = await response.json();
          assert.equal(body.code, "storageNotWritable");
          assert.match(body.message, /cannot write to its data directory/);

          // A deployment made of stored content only needs no new blob: it still deploys.
          const reused = await api.deployments.create(before.projectId, {
            entryPointUrl: "main.ts",
            envVars: {},
            assets: {
              "main.ts": { kind: "file", gitSha1: gitSha1(MAIN_TS) },
              "data.txt": { kind: "file", gitSha1: gitSha1(stored) },
            },
          });
          const built = await waitBuilt(api, reused.id);
          assert.equal(built.status, "success");
          assert.equal(await serve(host, built), stored);
        } finally {
          if (!root) {
            await Deno.chmod(join(blobsDir, ".tmp"), 0o700);
            await Deno.chmod(blobsDir, 0o700);
          }
        }
      },
    );
  },
);

Deno.test("storageFailure names disk-full, unwritable and I/O errors, and nothing else", () => {
  const osError = (code: string, number: number) =>
    Object.assign(new Error(`failed (os error ${number}): write '/x'`), { code });
  const sqlite = (errcode: number) =>
    Object.assign(new Error("sqlite"), { code: "ERR_SQLITE_ERROR", errcode });
  assert.equal(storageFailure(osError("ENOSPC", 28))?.status, 507);
  assert.equal(storageFailure(osError("EDQUOT", 122))?.code, "insufficientStorage");
  assert.equal(storageFailure(new Error("File too large (os error 27)"))?.status, 507);
  assert.equal(storageFailure(sqlite(13))?.code, "insufficientStorage"); // SQLITE_FULL
  assert.equal(storageFailure(osError("EROFS", 30))?.code, "storageNotWritable");
  assert.equal(storageFailure(new Deno.errors.PermissionDenied("no"))?.code, "storageNotWritable");
  assert.equal(storageFailure(sqlite(8 | (3 << 8)))?.code, "storageNotWritable"); // READONLY_*
  assert.equal(storageFailure(sqlite(10 | (3 << 8)))?.code, "storageError"); // IOERR_WRITE
  assert.equal(storageFailure(new Error("x", { cause: osError("ENOSPC", 28) }))?.status, 507);
  assert.equal(storageFailure(new TypeError("a bug")), undefined);
  assert.equal(storageFailure(sqlite(19)), undefined); // SQLITE_CONSTRAINT
  assert.equal(storageFailure(new Deno.errors.NotFound("gone")), undefined);
});

/**
 * Deploys a deployment on a normal host, then restarts the host on the same data dir under
 * `wrapper` and runs `check`; afterwards the first deployment must still serve its content
 * and every blob verify, with no temp file left.
 */
async function withStoredDeployment(
  wrapper: string[] | ((dataDir: string) => string[] | undefined),
  check: (host: TestHost, before: Deployment, stored: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "deploy-tenant-storage-" });
  const dataDir = join(root, "data");
  const stored = `stored before the failure ${crypto.randomUUID()}\n`;
  let host = await startTestHost({ dataDir });
  try {
    const api = apiOf(host);
    const project = await api.projects.create({ name: "storage" });
    const before = await waitBuilt(
      api,
      (await api.deployments.create(project.id, requestWith(stored))).id,
    );
    assert.equal(before.status, "success");
    await host.stop();

    const prefix = typeof wrapper === "function" ? wrapper(dataDir) : wrapper;
    host = await startTestHost({ dataDir, wrapper: prefix });
    await check(host, before, stored);

    assert.equal(await serve(host, before), stored);
    const blobs = new BlobStore(join(dataDir, "blobs"));
    for (const hash of [gitSha1(MAIN_TS), gitSha1(stored)]) {
      assert.ok(await blobs.verify(hash), `blob ${hash} was damaged`);
    }
    const temp = await Array.fromAsync(Deno.readDir(join(dataDir, "blobs", ".tmp")));
    assert.deepEqual(temp.map((entry) => entry.name), [], "a failed write left a temp file");
  } finally {
    await host.stop();
    await Deno.remove(root, { recursive: true });
  }
}

function apiOf(host: TestHost): V1Api {
  return new V1Api({
    baseUrl: host.apiUrl,
    token: host.token,
    organizationId: host.organizationId,
    retryBaseMs: 10,
  });
}

function requestWith(data: string): CreateDeploymentRequest {
  return {
    entryPointUrl: "main.ts",
    envVars: {},
    assets: {
      "main.ts": { kind: "file", content: MAIN_TS },
      "data.txt": { kind: "file", content: data, encoding: "utf-8" },
    },
  };
}

/** One create request, not retried, so the test sees the host's very answer. */
async function createRaw(host: TestHost, request: CreateDeploymentRequest): Promise<Response> {
  const api = apiOf(host);
  const project = await api.projects.get("storage");
  return await fetch(`${host.apiUrl}/projects/${project.id}/deployments`, {
    method: "POST",
    headers: { authorization: `Bearer ${host.token}`, "content-type": "application/json" },
    body: JSON.stringify(request),
  });
}

async function waitBuilt(api: V1Api, id: string): Promise<Deployment> {
  for (let i = 0; i < 600; i++) {
    const deployment = await api.deployments.get(id);
    if (deployment.status !== "pending") return deployment;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`deployment ${id} did not finish building`);
}

async function serve(host: TestHost, deployment: Deployment): Promise<string> {
  try {
    const response = await invoke(`http://${deployment.domains![0]}/`, undefined, {
      via: `http://127.0.0.1:${host.port}`,
    });
    const body = await response.text();
    assert.equal(response.status, 200, body);
    return body;
  } finally {
    closeInvokeClients();
  }
}

async function canUnshareMounts(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("unshare", {
      args: ["--mount", "--propagation", "private", "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

Deno.test(
  requires(["unshare"], {
    name: "a disk filling up inside a store transaction keeps its meaning, not a rollback error",
    // A full filesystem (ENOSPC): a small tmpfs, root only.
    ignore: !ROOT,
  }),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "dt-store-full-" });
    try {
      const script = join(dir, "fill.ts");
      const store = new URL("../host/store/store.ts", import.meta.url).href;
      const errors = new URL("../host/api/storage_errors.ts", import.meta.url).href;
      await Deno.writeTextFile(
        script,
        `import { Store } from "${store}";
      import { storageFailure } from "${errors}";
      const store = Store.open(${JSON.stringify(join(dir, "db", "host.db"))});
      try {
        for (let i = 0; i < 1000; i++) {
          store.transaction(() => {
            for (let j = 0; j < 20; j++) store.createOrganization("x".repeat(20_000));
          });
        }
        console.log("never full");
      } catch (error) {
        console.log(JSON.stringify({ status: storageFailure(error)?.status, message: String(error) }));
      }`,
      );
      // 1 MiB of file size for the process: SQLite gets EFBIG (SQLITE_FULL) mid-transaction.
      const { stdout } = await new Deno.Command("sh", {
        args: [
          "-c",
          `ulimit -f 2048 && trap '' XFSZ && exec "$@"`,
          "sh",
          Deno.execPath(),
          "run",
          "-A",
          script,
        ],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      const outcome = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!);
      // SQLite says "database or disk is full" (507) or, for a failed WAL write, "disk I/O error"
      // (500): either way the storage error, never the failed ROLLBACK that used to hide it.
      assert.ok(outcome.status === 507 || outcome.status === 500, JSON.stringify(outcome));
      assert.doesNotMatch(outcome.message, /no transaction is active/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("storageFailure reads SQLite's own message where node:sqlite gives no errcode", () => {
  const sqlite = (message: string) =>
    Object.assign(new Error(message), { code: "ERR_SQLITE_ERROR" });
  assert.equal(storageFailure(sqlite("database or disk is full"))?.status, 507);
  assert.equal(storageFailure(sqlite("attempt to write a readonly database"))?.status, 500);
  assert.equal(storageFailure(sqlite("disk I/O error"))?.status, 500);
  assert.equal(storageFailure(sqlite("UNIQUE constraint failed: projects.name")), undefined);
});
