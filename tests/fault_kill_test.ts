/**
 * `kill -9` the host again and again while deployments are being created, then check what a
 * crash must never leave behind: builds stuck `pending`, referenced blobs that are missing or
 * corrupt, half-written files at final blob paths, a `success` deployment that serves anything
 * but its own content, a running deployment that does not come back, or tenant processes that
 * outlive the host.
 *
 * Each round restarts the host on the same data dir, waits for the builds to settle, checks,
 * fires a few concurrent creates (new content, content reused by hash, a broken entry point)
 * and SIGKILLs the host 0–300 ms later. `FAULT_KILL_ROUNDS` overrides the number of rounds.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { V1Api } from "../lib/api.ts";
import { gitSha1 } from "../lib/git_sha1.ts";
import type { CreateDeploymentRequest, Deployment } from "../lib/types.ts";
import { BlobStore } from "../host/store/blobs.ts";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { describe, runCli, startTestHost, type TestHost } from "./helpers/host.ts";
import { pathWithout } from "./helpers/programs.ts";

const ROUNDS = Number(Deno.env.get("FAULT_KILL_ROUNDS") ?? 20);
const CREATES_PER_ROUND = 3;
const MAX_KILL_DELAY_MS = 300;
const SETTLE_TIMEOUT_MS = 45_000;

/** Serves its `data.txt`, read at start: a half-materialised deployment cannot answer right. */
const MAIN_TS = `const data = await Deno.readTextFile(new URL("./data.txt", import.meta.url));
export default { fetch: () => new Response(data) };
`;
const BROKEN_MAIN_TS = "export default { fetch( =>\n";

/** What a deployment was created with, keyed by its description. */
interface Variant {
  description: string;
  broken: boolean;
  data: string;
}

Deno.test({
  name: "kill -9 in a loop while deploying loses nothing and leaves nothing behind",
  // The host's subprocess and its output streams outlive single steps on purpose.
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "deploy-tenant-kill-" });
  const dataDir = join(root, "data");
  const variants = new Map<string, Variant>();
  /** Data blobs a create answered for: safe to reuse by hash. */
  const storedData: Variant[] = [];
  const checkedOnce = new Set<string>();
  let host: TestHost | undefined;
  try {
    host = await startTestHost({ dataDir });
    const projectId = (await apiOf(host).projects.create({ name: "kill-loop" })).id;

    for (let round = 1; round <= ROUNDS; round++) {
      const api = apiOf(host);
      const deployments = await settle(api, projectId, host);
      await checkDeployments(host, deployments, variants, checkedOnce);
      await checkBlobDir(host.dataDir, { allowTemp: false });

      const creates = Array.from({ length: CREATES_PER_ROUND }, (_, i) => {
        const variant = pickVariant(round, i, storedData);
        variants.set(variant.description, variant);
        return api.deployments.create(projectId, requestFor(variant, storedData))
          .then(() => storedData.push(variant), () => {});
      });
      await sleep(Math.random() * MAX_KILL_DELAY_MS);
      const family = descendants(host.pid);
      await host.stop("SIGKILL");
      await Promise.all(creates);
      await assertAllGone(family, dataDir);

      // The crash state itself: everything a deployment references is whole.
      await checkReferencedBlobs(dataDir);
      await checkBlobDir(dataDir, { allowTemp: true });
      host = await startTestHost({ dataDir });
    }

    const api = apiOf(host);
    const deployments = await settle(api, projectId, host);
    assert.ok(deployments.length >= ROUNDS, `only ${deployments.length} deployments were made`);
    await checkDeployments(host, deployments, variants, checkedOnce, { all: true });
    await checkReferencedBlobs(dataDir);
    await checkBlobDir(dataDir, { allowTemp: false });
  } finally {
    await host?.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

/** Idle, stuck in a loop, and logging as fast as it can: each must die with the host. */
const STUBBORN_TENANTS: Record<string, string> = {
  "idle-tenant": `export default { fetch: () => new Response("idle") };`,
  "spinning-tenant": `export default { fetch() { while (true) {} } };`,
  "logging-tenant": `export default { fetch() {
    setInterval(() => console.log("x".repeat(1000)), 1);
    return new Response("logging");
  } };`,
};

Deno.test({
  name: "without bubblewrap, tenants die with a SIGKILLed host: idle, in a loop, or logging",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const binDir = await pathWithout(["bwrap"]);
  const host = await startTestHost({
    wrapper: ["/usr/bin/env", `PATH=${binDir}`],
    args: ["--unsandboxed"],
  });
  try {
    for (const [name, code] of Object.entries(STUBBORN_TENANTS)) {
      const dir = join(host.tempDir, name);
      await Deno.mkdir(dir);
      await Deno.writeTextFile(join(dir, "main.ts"), code);
      const created = await runCli(["project", "create", name], { env: host.env });
      assert.equal(created.code, 0, describe(created));
      const deployed = await runCli(["deploy", dir, "--project", name, "--json"], {
        env: host.env,
      });
      assert.equal(deployed.code, 0, describe(deployed));
      // The spinning tenant never answers: only its start is waited for.
      invoke(JSON.parse(deployed.stdout).url).then((r) => r.body?.cancel(), () => {});
    }
    await sleep(1_000);
    const family = descendants(host.pid);
    const tenants = family.filter((p) => readProc(`/proc/${p.pid}/cmdline`)?.includes("--preload"));
    assert.equal(tenants.length, 3, `tenant processes: ${tenants.length}`);
    await host.stop("SIGKILL");
    await assertAllGone(family, host.dataDir);
  } finally {
    await host.stop();
    await closeInvokeClients();
    await Deno.remove(binDir, { recursive: true });
  }
});

function apiOf(host: TestHost): V1Api {
  // No retries: a request cut by the kill must fail, not wait for the next host.
  return new V1Api({
    baseUrl: host.apiUrl,
    token: host.token,
    organizationId: host.organizationId,
    maxRetries: 0,
    timeoutMs: 30_000,
  });
}

/** One deployment to create: fresh data, data reused by hash, or a broken entry point. */
function pickVariant(round: number, index: number, stored: Variant[]): Variant {
  const broken = Math.random() < 0.15;
  const reuse = stored.length > 0 && Math.random() < 0.4;
  const data = reuse
    ? stored[Math.floor(Math.random() * stored.length)].data
    : randomText(1024 + Math.floor(Math.random() * 1024 * 1024));
  const kind = broken ? "broken" : "good";
  return { description: `${kind} r${round}.${index} ${gitSha1(data)}`, broken, data };
}

function requestFor(variant: Variant, stored: Variant[]): CreateDeploymentRequest {
  const known = stored.some((other) => other.data === variant.data);
  return {
    entryPointUrl: "main.ts",
    envVars: {},
    description: variant.description,
    assets: {
      "main.ts": { kind: "file", content: variant.broken ? BROKEN_MAIN_TS : MAIN_TS },
      "data.txt": known
        ? { kind: "file", gitSha1: gitSha1(variant.data) }
        : { kind: "file", content: variant.data, encoding: "utf-8" },
    },
  };
}

/** Waits until no deployment of the project is `pending`; resumed builds must finish. */
async function settle(api: V1Api, projectId: string, host: TestHost): Promise<Deployment[]> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const deployments = await Array.fromAsync(api.deployments.list(projectId, { limit: 100 }));
    const pending = deployments.filter((d) => d.status === "pending");
    if (pending.length === 0) return deployments;
    if (Date.now() > deadline) {
      assert.fail(
        `Deployments stuck pending after a restart: ${pending.map((d) => d.id).join(", ")}\n` +
          host.output().slice(-3000),
      );
    }
    await sleep(100);
  }
}

/**
 * Every deployment ended as its content says it should, and a `success` one serves exactly
 * its data. Deployments not served yet (and, with `all`, every one) are requested.
 */
async function checkDeployments(
  host: TestHost,
  deployments: Deployment[],
  variants: Map<string, Variant>,
  checked: Set<string>,
  { all = false } = {},
): Promise<void> {
  try {
    const api = apiOf(host);
    const served = deployments.filter((d) => d.status === "success");
    // Older ones too, a couple per round: they come back on demand after the restart.
    const toServe = all ? served : [
      ...served.filter((d) => !checked.has(d.id)),
      ...shuffled(served.filter((d) => checked.has(d.id))).slice(0, 2),
    ];
    for (const deployment of deployments) {
      const variant = variants.get(deployment.description ?? "");
      assert.ok(variant, `deployment ${deployment.id} has an unknown description`);
      const expected = variant.broken ? "failed" : "success";
      if (deployment.status !== expected) {
        const logs = await api.deployments.buildLogs(deployment.id);
        assert.fail(
          `deployment ${deployment.id} (${variant.description}) is ${deployment.status}, ` +
            `expected ${expected}:\n${logs.map((l) => `${l.level}: ${l.message}`).join("\n")}`,
        );
      }
    }
    await Promise.all(toServe.map(async (deployment) => {
      const variant = variants.get(deployment.description!)!;
      const response = await invoke(`http://${deployment.domains![0]}/`, undefined, {
        via: `http://127.0.0.1:${host.port}`,
      });
      const body = await response.text();
      assert.equal(response.status, 200, `${deployment.id}: ${body.slice(0, 300)}`);
      assert.ok(body === variant.data, `${deployment.id} served content that is not its own`);
      checked.add(deployment.id);
    }));
  } finally {
    closeInvokeClients();
  }
}

/** Every blob a deployment row references exists and re-hashes to its name. */
async function checkReferencedBlobs(dataDir: string): Promise<void> {
  const db = new DatabaseSync(join(dataDir, "host.db"), { readOnly: true });
  let hashes: string[];
  try {
    hashes = db.prepare(
      "SELECT DISTINCT git_sha1 FROM deployment_assets WHERE git_sha1 IS NOT NULL",
    ).all().map((row) => String(row.git_sha1));
  } finally {
    db.close();
  }
  const blobs = new BlobStore(join(dataDir, "blobs"));
  for (const hash of hashes) {
    assert.ok(await blobs.verify(hash), `referenced blob ${hash} is missing or corrupt`);
  }
}

/**
 * Only whole blobs at final paths (`xx/<38 hex>`, content matching the name), and likewise the
 * projects' copies (`projects/<id>/xx/<38 hex>`); temp files only in `.tmp`, and not even there
 * once a restarted host has settled.
 */
async function checkBlobDir(dataDir: string, { allowTemp }: { allowTemp: boolean }) {
  const dir = join(dataDir, "blobs");
  for (const shard of await entriesOf(dir)) {
    if (shard.name === ".tmp") {
      if (allowTemp) continue;
      const left = await Array.fromAsync(Deno.readDir(join(dir, shard.name)));
      assert.deepEqual(left.map((e) => e.name), [], "temp files survived a restart");
      continue;
    }
    if (shard.name === "projects") {
      for (const project of await entriesOf(join(dir, shard.name))) {
        assert.ok(project.isDirectory, `stray blobs/projects/${project.name}`);
        await checkShards(
          join(dir, shard.name, project.name),
          await entriesOf(join(dir, shard.name, project.name)),
        );
      }
      continue;
    }
    await checkShards(dir, [shard]);
  }
}

/** The blob files of `shards` (directories of `dir`) are whole and named by their content. */
async function checkShards(dir: string, shards: Deno.DirEntry[]) {
  const blobs = new BlobStore(dir);
  for (const shard of shards) {
    assert.ok(shard.isDirectory && /^[0-9a-f]{2}$/.test(shard.name), `stray ${dir}/${shard.name}`);
    for await (const entry of Deno.readDir(join(dir, shard.name))) {
      const hash = shard.name + entry.name;
      assert.ok(
        entry.isFile && /^[0-9a-f]{40}$/.test(hash),
        `stray ${dir}/${shard.name}/${entry.name}`,
      );
      assert.ok(await blobs.verify(hash), `blob ${dir}/${hash} does not match its name`);
    }
  }
}

/** The entries of `dir`, none when it does not exist (nothing stored yet). */
async function entriesOf(dir: string): Promise<Deno.DirEntry[]> {
  return await Array.fromAsync(Deno.readDir(dir)).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  });
}

// ---- processes ----

/** A process, by pid and start time (pids are reused). */
interface ProcessId {
  pid: number;
  startTime: string;
}

/** The process `pid` and all its descendants, now. */
function descendants(pid: number): ProcessId[] {
  const table = processTable();
  const family: ProcessId[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift()!;
    const self = table.find((p) => p.pid === current);
    if (self) family.push({ pid: self.pid, startTime: self.startTime });
    for (const child of table.filter((p) => p.ppid === current)) queue.push(child.pid);
  }
  return family;
}

function processTable(): { pid: number; ppid: number; startTime: string }[] {
  const table = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = readProc(`/proc/${entry.name}/stat`);
    if (!stat) continue;
    // Fields after "(comm)": state ppid … ; the start time is field 22 of the whole line.
    const fields = stat.split(") ").at(-1)!.split(" ");
    table.push({ pid: Number(entry.name), ppid: Number(fields[1]), startTime: fields[19] });
  }
  return table;
}

function readProc(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined; // exited meanwhile
  }
}

/**
 * The killed host's whole process tree is gone (bubblewrap's --die-with-parent takes the
 * tenants along), and no process anywhere still names the data dir on its command line.
 */
async function assertAllGone(family: ProcessId[], dataDir: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const alive = family.filter((p) => {
      const fields = readProc(`/proc/${p.pid}/stat`)?.split(") ").at(-1)?.split(" ");
      // A zombie is dead, only not yet reaped by whoever inherited it.
      return fields?.[19] === p.startTime && fields[0] !== "Z";
    });
    const naming = [];
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const cmdline = readProc(`/proc/${entry.name}/cmdline`);
      if (cmdline?.includes(dataDir)) {
        naming.push(`${entry.name}: ${cmdline.replaceAll("\0", " ")}`);
      }
    }
    if (alive.length === 0 && naming.length === 0) return;
    if (Date.now() > deadline) {
      assert.fail(
        `processes outlived the killed host:\n${alive.map((p) => p.pid).join(", ")}\n` +
          naming.join("\n"),
      );
    }
    await sleep(50);
  }
}

// ---- small helpers ----

function randomText(length: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789\n";
  const bytes = crypto.getRandomValues(new Uint8Array(Math.min(length, 65536)));
  let text = "";
  while (text.length < length) {
    text += Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
    crypto.getRandomValues(bytes);
  }
  return text.slice(0, length);
}

function shuffled<T>(items: T[]): T[] {
  return items.map((item) => [Math.random(), item] as const).sort((a, b) => a[0] - b[0])
    .map(([, item]) => item);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
