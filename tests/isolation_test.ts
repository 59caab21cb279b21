/**
 * Attacks on a real host through real deployments: a tenant tries to read, import and write
 * what is not its own, see the host's environment, spawn processes, load native code, raise
 * its permissions and reach loopback services; a neighbour runs out of memory, burns CPU,
 * crashes and floods the host while another tenant is served.
 *
 * Traffic goes to loopback only. Private and link-local ranges are checked on the flags
 * (tests/sandbox_test.ts, tests/net_permissions_test.ts); the IPv6 filter is shown by a listen
 * on an address this machine does not have, which sends nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { detectIsolation } from "../host/tenant/sandbox.ts";
import { detectCgroups } from "../host/tenant/cgroups.ts";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { gitSha1 } from "../lib/git_sha1.ts";
import type { AppLogEntry, Deployment } from "../lib/types.ts";
import { type ApiHost, ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";
import { describe, runCli, startTestHost } from "./helpers/host.ts";
import { pathWithout, requires } from "./helpers/programs.ts";

const isolation = await detectIsolation();
const sandboxed = isolation.kind === "bwrap";
const filtered = isolation.kind === "bwrap" && isolation.seccomp === true;

// ---- helpers: deployments through the API, calls through the router, app logs ----

type Assets = Record<string, string>;

interface Deployed {
  id: string;
  url: string;
  /** The host name the router serves it at. */
  host: string;
}

interface DeployOptions {
  envVars?: Record<string, string>;
  databaseId?: string;
  net?: string[];
  requestTimeout?: number;
  compilerOptions?: Record<string, unknown>;
}

/** Creates project `name` and a deployment of `assets` in it; returns it once built. */
async function deploy(
  api: ApiHost,
  name: string,
  assets: Assets,
  options: DeployOptions = {},
): Promise<Deployed & { status: string }> {
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name },
  });
  const deployment = await ok<Deployment>(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.ts",
      envVars: options.envVars ?? {},
      assets: Object.fromEntries(
        Object.entries(assets).map(([path, content]) => [
          path,
          { kind: "file", content, encoding: "utf-8" },
        ]),
      ),
      ...(options.databaseId ? { databases: { default: options.databaseId } } : {}),
      ...(options.net ? { permissions: { net: options.net } } : {}),
      ...(options.requestTimeout ? { requestTimeout: options.requestTimeout } : {}),
      ...(options.compilerOptions ? { compilerOptions: options.compilerOptions } : {}),
    },
  });
  const status = await waitForBuild(api, deployment.id);
  const host = `${name}-${deployment.id}.localhost:${api.host.port}`;
  return { id: deployment.id, url: `http://${host}`, host, status };
}

/** Creates a KV database; returns its id. */
async function createDatabase(api: ApiHost, description: string): Promise<string> {
  const organization = api.host.organizationId;
  const database = await ok(api, "POST", `/v1/organizations/${organization}/databases`, {
    json: { description },
  });
  return String(database.id);
}

/** Calls a deployment through the host's router. */
async function call(
  deployment: Deployed,
  path = "/",
  timeoutMs = 30_000,
): Promise<{ status: number; text: string }> {
  const response = await invoke(`${deployment.url}${path}`, {}, { timeoutMs });
  return { status: response.status, text: await response.text() };
}

/** A deployment's app log messages so far. */
async function appLogs(api: ApiHost, id: string): Promise<string[]> {
  const since = "2000-01-01T00:00:00Z";
  const entries = await ok<AppLogEntry[]>(
    api,
    "GET",
    `/v1/deployments/${id}/app_logs?since=${since}&limit=1000`,
  );
  return entries.map((entry) => entry.message);
}

/** Waits until a log message matches `pattern` (lines are written in batches). */
async function waitForLog(api: ApiHost, id: string, pattern: RegExp, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const messages = await appLogs(api, id);
    const found = messages.find((message) => pattern.test(message));
    if (found) return found;
    assert.ok(Date.now() < deadline, `no log line ${pattern} in:\n${messages.join("\n")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A loopback HTTP server that counts what reaches it. */
function countingServer(hostname = "127.0.0.1", answer = "loopback secret") {
  let hits = 0;
  const server = Deno.serve({ port: 0, hostname, onListen() {} }, () => {
    hits++;
    return new Response(answer);
  });
  return { server, port: server.addr.port, hits: () => hits };
}

// ---- the attacker ----

/** One attempt: its name and the JavaScript expression (a promise or value) that tries it. */
type Attempt = [name: string, expression: string];

/**
 * A tenant that runs each attempt and answers `{results, env, processEnv}`: each result is
 * `blocked: <error>` or `ALLOWED: <what it got>`. Expressions are source text, so import
 * specifiers are literals where the attempt needs them to be (Deno checks `--allow-read`
 * for computed specifiers only).
 */
function attackerSource(attempts: Attempt[]): string {
  const entries = attempts.map(([name, expression]) =>
    `  [${JSON.stringify(name)}, () => (${expression})],`
  );
  return `
import * as fs from "node:fs";
import * as childProcess from "node:child_process";
import * as net from "node:net";
import * as http from "node:http";

// A specifier known only at run time, which Deno checks against --allow-read.
const computed = (specifier, options) => import(specifier, options);
const within = (promise, ms = 5000) => Promise.race([
  promise,
  new Promise((_, reject) => setTimeout(() => reject(new Error("TIMEOUT: no answer")), ms)),
]);
const preview = (value) => {
  if (value && typeof value === "object" && "default" in value) value = value.default;
  if (value instanceof Uint8Array) value = new TextDecoder().decode(value);
  if (typeof value !== "string") {
    try { value = JSON.stringify(value); } catch { value = String(value); }
  }
  return String(value).slice(0, 120);
};
// A worker that tries to import \`specifier\` and posts what happened.
const inWorker = (specifier, type) => new Promise((resolve, reject) => {
  const options = type ? \`, { with: { type: "\${type}" } }\` : "";
  const code = \`import(\${JSON.stringify(specifier)}\${options}).then(
    (m) => postMessage("ALLOWED: " + String(m.default).slice(0, 120)),
    (e) => postMessage("blocked: " + e.name + " " + e.message));\`;
  const worker = new Worker("data:text/javascript," + encodeURIComponent(code), { type: "module" });
  worker.onmessage = (event) => {
    worker.terminate();
    if (event.data.startsWith("ALLOWED: ")) resolve(event.data.slice(9));
    else reject(new Error(event.data));
  };
  worker.onerror = (event) => { event.preventDefault(); worker.terminate(); reject(new Error(event.message)); };
});
// A worker started from the file itself: an error event means it could not be loaded.
const workerOf = (url) => new Promise((resolve, reject) => {
  const worker = new Worker(url, { type: "module" });
  worker.onerror = (event) => { event.preventDefault(); worker.terminate(); reject(new Error(event.message)); };
  setTimeout(() => { worker.terminate(); resolve("loaded"); }, 2000);
});
const connectUnix = (path) => new Promise((resolve, reject) => {
  const socket = net.connect({ path });
  socket.on("connect", () => { socket.destroy(); resolve("connected"); });
  socket.on("error", reject);
});
const nodeGet = (url) => new Promise((resolve, reject) => {
  http.get(url, (response) => resolve(response.statusCode)).on("error", reject);
});
const webSocket = (url) => new Promise((resolve, reject) => {
  const socket = new WebSocket(url);
  socket.onopen = () => { socket.close(); resolve("open"); };
  socket.onerror = (event) => reject(new Error(event.message ?? "websocket error"));
});
const spawn = (command, args) => new Promise((resolve, reject) => {
  const child = childProcess.spawn(command, args);
  child.on("error", reject);
  child.on("exit", (code) => resolve("exit " + code));
});

const attempts = [
${entries.join("\n")}
];

export default {
  async fetch() {
    const results = {};
    await Promise.all(attempts.map(async ([name, attempt]) => {
      try {
        results[name] = "ALLOWED: " + preview(await within(Promise.resolve().then(attempt)));
      } catch (error) {
        const cause = error?.cause?.message ? " (" + error.cause.message + ")" : "";
        results[name] = "blocked: " + error?.name + " " + error?.message + cause;
      }
    }));
    return Response.json({ results, env: Deno.env.toObject(), processEnv: { ...process.env } });
  },
};
`;
}

interface AttackReport {
  results: Record<string, string>;
  env: Record<string, string>;
  processEnv: Record<string, string>;
}

async function attack(api: ApiHost, deployment: Deployed): Promise<AttackReport> {
  const { status, text } = await call(deployment);
  if (status !== 200) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const logs = (await appLogs(api, deployment.id)).join("\n");
    assert.fail(`the attacker answered ${status} ${text}; its logs:\n${logs}`);
  }
  return JSON.parse(text);
}

/** Asserts every result (but those in `except`) was blocked, and lists them on failure. */
function assertAllBlocked(report: AttackReport, except: (name: string) => boolean = () => false) {
  const allowed = Object.entries(report.results)
    .filter(([name, result]) => !except(name) && !result.startsWith("blocked"));
  assert.deepEqual(allowed, [], `allowed:\n${allowed.map((a) => a.join(" → ")).join("\n")}`);
}

const lit = (value: string) => JSON.stringify(value);

/** Names in /etc/hosts that resolve to a loopback address, other than `localhost`. */
async function loopbackNames(): Promise<string[]> {
  const text = await Deno.readTextFile("/etc/hosts").catch(() => "");
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const [address, ...aliases] = line.replace(/#.*/, "").trim().split(/\s+/);
    if (!address || !(address.startsWith("127.") || address === "::1")) continue;
    for (const name of aliases) if (name && !/^localhost$/i.test(name)) names.add(name);
  }
  return [...names];
}

// ---- the tests ----

/** Whether tenants run here at all (with bubblewrap, or Deno's permissions alone when accepted). */
const runnable = sandboxed || Deno.env.get("DEPLOY_TENANT_TEST_UNSANDBOXED") === "1";

Deno.test(requires(["bwrap"], {
  name: "a tenant cannot read, import or write outside its own files, nor see the host's env",
  // Without the OS sandbox an import reads any file the host can (README, threat model).
  ignore: !sandboxed,
  async fn() {
    const operatorSecret = `operator-${crypto.randomUUID()}`;
    Deno.env.set("ISOLATION_TEST_OPERATOR_SECRET", operatorSecret);
    await using api = await startApiHost();
    const dataDir = api.host.dataDir;
    const victimSecret = `victim-${crypto.randomUUID()}`;
    const victimDb = await createDatabase(api, "victim");
    const victim = await deploy(api, "victim", {
      "main.ts": `import secret from "./secret.ts";
        const kv = await Deno.openKv();
        await kv.set(["secret"], secret);
        export default { fetch: () => new Response("victim") };`,
      "secret.ts": `export default ${lit(victimSecret)};\n`,
      "data.json": JSON.stringify({ secret: victimSecret }),
    }, { databaseId: victimDb });
    assert.equal(victim.status, "success");
    assert.equal((await call(victim)).text, "victim");

    const victimApp = join(dataDir, "deployments", victim.id, "app");
    const secretFile = join(victimApp, "secret.ts");
    const secretBlob = gitSha1(`export default ${lit(victimSecret)};\n`);
    const victimKv = join(dataDir, "kv", victimDb.toLowerCase(), "kv.sqlite3");
    // Readable files of the host and of the victim; under the sandbox none of them exist.
    const files = [
      join(dataDir, "host.db"),
      join(dataDir, "host.json"),
      join(dataDir, "token"),
      join(dataDir, "blobs", secretBlob.slice(0, 2), secretBlob.slice(2)),
      secretFile,
      join(victimApp, "data.json"),
      victimKv,
      "/etc/passwd",
      "/etc/shadow",
      "/proc/self/environ",
      "/proc/1/environ",
      "/proc/1/cmdline",
      `/proc/${Deno.pid}/environ`,
      `/proc/1/root${dataDir}/host.json`,
      `/proc/self/root${dataDir}/host.json`,
      // Mount sources (the data dir, deployment ids), the machine's sockets and load.
      "/proc/1/mountinfo",
      "/proc/self/mountinfo",
      "/proc/thread-self/mountinfo",
      "/proc/self/mounts",
      "/proc/1/mountstats",
      "/proc/1/net/unix",
      "/proc/net/unix",
      "/proc/net/tcp",
      "/proc/meminfo",
      "/proc/stat",
      "/proc/1/maps",
    ];
    const attempts: Attempt[] = [];
    for (const file of files) {
      const url = `file://${file}`;
      attempts.push(
        [`readTextFile ${file}`, `Deno.readTextFile(${lit(file)})`],
        [`readFileSync ${file}`, `Deno.readFileSync(${lit(file)})`],
        [`stat ${file}`, `Deno.stat(${lit(file)})`],
        [`open ${file}`, `Deno.open(${lit(file)})`],
        [`node fs ${file}`, `fs.readFileSync(${lit(file)}, "utf8")`],
        [`fetch ${url}`, `fetch(${lit(url)}).then((r) => r.text())`],
        [`import computed ${file}`, `computed(${lit(url)})`],
        [`import computed text ${file}`, `computed(${lit(url)}, { with: { type: "text" } })`],
        // Deno folds a concatenation of literals into a literal.
        [`import literal concatenated ${file}`, `import("file://" + ${lit(file)})`],
        [`import literal text ${file}`, `import(${lit(url)}, { with: { type: "text" } })`],
        [`worker import text ${file}`, `inWorker(${lit(url)}, "text")`],
      );
    }
    for (const file of [secretFile]) {
      const url = `file://${file}`;
      attempts.push(
        [`import literal ${file}`, `import(${lit(url)})`],
        [`import literal relative`, `import("../../${victim.id}/app/secret.ts")`],
        [
          `import.meta.resolve relative`,
          `import(import.meta.resolve("../../" + ${lit(victim.id)} + "/app/secret.ts"))`,
        ],
        [`import.meta.resolve absolute`, `import(import.meta.resolve(${lit(url)}))`],
        [`worker of ${file}`, `workerOf(${lit(url)})`],
        [`worker import ${file}`, `inWorker(${lit(url)})`],
      );
    }
    for (const file of [join(dataDir, "host.json"), join(victimApp, "data.json")]) {
      const url = `file://${file}`;
      attempts.push(
        [`import literal json ${file}`, `import(${lit(url)}, { with: { type: "json" } })`],
        [`import computed json ${file}`, `computed(${lit(url)}, { with: { type: "json" } })`],
      );
    }
    for (const dir of [dataDir, victimApp, "/", "/proc", "/etc", "/kv", "/deno/cache"]) {
      attempts.push([`readDir ${dir}`, `Array.fromAsync(Deno.readDir(${lit(dir)}))`]);
    }
    // Writes: only Deno.openKv() on its own database may write.
    for (
      const file of [
        "/app/x.txt",
        "/tmp/x.txt",
        "/kv/x.txt",
        "/kv/kv.sqlite3-wal",
        "/run/deployment/x.txt",
        "/deno/cache/x.txt",
        join(dataDir, "x.txt"),
        join(victimApp, "x.txt"),
        victimKv,
      ]
    ) {
      attempts.push(
        [`writeTextFile ${file}`, `Deno.writeTextFile(${lit(file)}, "x")`],
        [`node fs write ${file}`, `fs.writeFileSync(${lit(file)}, "x")`],
      );
    }
    attempts.push(
      ["mkdir /tmp/d", `Deno.mkdir("/tmp/d")`],
      ["mkdir /kv/d", `Deno.mkdir("/kv/d")`],
      ["symlink /kv/link", `Deno.symlink("/etc/passwd", "/kv/link")`],
      ["makeTempFile", `Deno.makeTempFile()`],
      ["makeTempFile /kv", `Deno.makeTempFile({ dir: "/kv" })`],
      ["makeTempDir", `Deno.makeTempDir()`],
      ["chmod own code", `Deno.chmod("/app/main.ts", 0o777)`],
      ["remove own code", `Deno.remove("/app/main.ts")`],
      ["openKv path", `Deno.openKv("/kv/other.sqlite3")`],
      ["openKv memory", `Deno.openKv(":memory:")`],
      ["openKv victim", `Deno.openKv(${lit(victimKv)})`],
    );
    const attackerDb = await createDatabase(api, "attacker");
    const attacker = await deploy(api, "attacker", { "main.ts": attackerSource(attempts) }, {
      databaseId: attackerDb,
      envVars: { MY_OWN_VAR: "mine" },
    });
    assert.equal(attacker.status, "success");
    const report = await attack(api, attacker);

    // In the sandbox, Deno is pid 1 and /proc is its own: an import can read its own
    // environment and command line (checked below to hold nothing of the host).
    const ownProcess = (name: string) => /\/proc\/(self|1)\/(environ|cmdline)$/.test(name);
    assertAllBlocked(
      report,
      ownProcess,
    );
    const everything = JSON.stringify(report);
    for (const secret of [victimSecret, api.host.token, operatorSecret]) {
      assert.ok(!everything.includes(secret), "a secret reached the tenant");
    }
    const hostValues = Object.values(Deno.env.toObject()).filter((value) => value.length >= 4);
    for (const [name, result] of Object.entries(report.results)) {
      if (!result.startsWith("ALLOWED")) continue;
      assert.ok(!result.includes(dataDir), `${name} shows the host's data dir`);
      for (const value of hostValues) {
        assert.ok(!result.includes(value), `${name} shows the host's environment`);
      }
    }

    // Its environment is its own variables and what Deploy sets, nothing of the host's or of
    // the runtime's own (DENO_DIR, the node shims' PATH are read at start, then removed); HOME
    // is the sandbox's /tmp, as every process has a home.
    assert.deepEqual(
      Object.keys(report.env).sort(),
      [
        "DENO_DEPLOY",
        "DENO_DEPLOYMENT_ID",
        "DENO_DEPLOY_APP_ID",
        "DENO_DEPLOY_APP_SLUG",
        "DENO_DEPLOY_BUILD_ID",
        "DENO_DEPLOY_ORG_ID",
        "DENO_DEPLOY_ORG_SLUG",
        "DENO_REGION",
        "DENO_TIMELINE",
        "HOME",
        "MY_OWN_VAR",
      ],
      "the tenant's variables",
    );
    assert.equal(report.env.MY_OWN_VAR, "mine");
    assert.deepEqual(report.processEnv, report.env, "node's process.env is the same");
    for (const [name, value] of Object.entries(Deno.env.toObject())) {
      // "1", "C", "true" (CI=true beside DENO_DEPLOY=true): no secret, and equal by chance.
      if (value.length < 4 || value === "true" || value === "false") continue;
      assert.ok(report.env[name] !== value, `the host's ${name} leaked`);
      assert.ok(!Object.values(report.env).includes(value), `the value of ${name} leaked`);
    }

    // Nothing was written where the tenant aimed, and its own database works.
    for (const path of [join(victimApp, "x.txt"), join(dataDir, "x.txt")]) {
      await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    }
    const attackerKvDir = join(dataDir, "kv", attackerDb.toLowerCase());
    for await (const entry of Deno.readDir(attackerKvDir)) {
      assert.match(entry.name, /^kv\.sqlite3(-wal|-shm|-journal)?$/);
    }
    assert.equal((await call(victim)).text, "victim", "the victim still serves");
    Deno.env.delete("ISOLATION_TEST_OPERATOR_SECRET");
  },
}));

Deno.test({
  name:
    "a tenant cannot spawn processes, load native code, raise its permissions or see the system",
  ignore: !runnable,
  async fn() {
    await using api = await startApiHost();
    const attempts: Attempt[] = [
      ["Deno.Command output", `new Deno.Command("/bin/sh", { args: ["-c", "id"] }).output()`],
      ["Deno.Command spawn", `new Deno.Command("/bin/sh").spawn()`],
      ["Deno.Command sync", `new Deno.Command("/bin/true").outputSync()`],
      ["child_process spawn", `spawn("/bin/sh", ["-c", "id"])`],
      [
        "child_process exec",
        `new Promise((ok, no) => childProcess.exec("id", (e, out) => e ? no(e) : ok(out)))`,
      ],
      ["child_process execSync", `childProcess.execSync("id")`],
      ["child_process execFileSync", `childProcess.execFileSync("/bin/true")`],
      [
        "process.binding",
        `process.binding("spawn_sync").spawn({ file: "/bin/sh", args: ["sh", "-c", "id"], envPairs: [], stdio: [] })`,
      ],
      ["process.dlopen", `process.dlopen({ exports: {} }, "/usr/lib/x86_64-linux-gnu/libc.so.6")`],
      ["Deno.dlopen", `Deno.dlopen("/usr/lib/x86_64-linux-gnu/libc.so.6", {})`],
      // Deno's core: every op, beneath the bootstrap's wrappers (KV counting, Deno.serve).
      ["Deno's internals", `Object.keys(Deno[Deno.internal].core.ops)`],
      ["Deno.kill host", `Deno.kill(${Deno.pid}, "SIGCONT")`],
      ["process.kill host", `process.kill(${Deno.pid}, "SIGCONT")`],
      // Deno.hostname() is allowed: it names the sandbox ("deployment"), nothing of the host's
      // (tests/customer_fidelity_test.ts). Deno.networkInterfaces() answers the loopback alone,
      // from the bootstrap, still without sys access (tests/customer_fidelity5_test.ts).
      ["Deno.osRelease", `Deno.osRelease()`],
      ["Deno.systemMemoryInfo", `Deno.systemMemoryInfo()`],
      ["Deno.loadavg", `Deno.loadavg()`],
      ["Deno.uid", `Deno.uid()`],
      // Not net (all public hosts) nor env (its own variables): it has those.
      ...["run", "read", "write", "sys", "ffi"].map((name): Attempt => [
        `permissions.request ${name}`,
        // A prompt would hang: --no-prompt makes it answer at once.
        `Deno.permissions.request({ name: ${
          lit(name)
        } }).then((s) => s.state === "granted" ? s.state : Promise.reject(new Error(s.state)))`,
      ]),
      [
        "permissions.requestSync run",
        `(() => { const s = Deno.permissions.requestSync({ name: "run" }); if (s.state !== "granted") throw new Error(s.state); return s.state; })()`,
      ],
      [
        "permissions.query run",
        `Deno.permissions.query({ name: "run" }).then((s) => s.state === "granted" ? s.state : Promise.reject(new Error(s.state)))`,
      ],
    ];
    const attacker = await deploy(api, "spawner", {
      "main.ts": attackerSource(attempts),
    });
    assert.equal(attacker.status, "success");
    const report = await attack(api, attacker);
    assertAllBlocked(report);
    for (const [name, result] of Object.entries(report.results)) {
      assert.doesNotMatch(result, /TIMEOUT/, `${name} hung`);
    }

    // A worker asking for more than its parent has: refused (the process may exit over the
    // unstable option); after it the deployment still cannot spawn.
    const escalate = await deploy(api, "escalate", {
      "main.ts": `export default { async fetch(request) {
        if (new URL(request.url).pathname === "/spawn") {
          try { await new Deno.Command("/bin/true").output(); return new Response("ALLOWED"); }
          catch (error) { return new Response("blocked: " + error.name); }
        }
        try {
          const worker = new Worker("data:text/javascript,postMessage(1)", {
            type: "module", deno: { permissions: { run: true, read: true } } });
          const answer = await new Promise((resolve) => {
            worker.onmessage = () => resolve("ALLOWED");
            worker.onerror = (event) => { event.preventDefault(); resolve("blocked: " + event.message); };
          });
          worker.terminate();
          return new Response(answer);
        } catch (error) { return new Response("blocked: " + error.name); }
      } };`,
    });
    const escalated = await call(escalate, "/worker");
    assert.ok(escalated.status >= 500 || escalated.text.startsWith("blocked"), escalated.text);
    // The next request may still meet the process that is exiting: it restarts after that.
    let spawned = await call(escalate, "/spawn");
    for (let i = 0; i < 50 && spawned.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      spawned = await call(escalate, "/spawn");
    }
    assert.match(spawned.text, /^blocked: NotCapable/);
  },
});

Deno.test({
  name: "a tenant reaches no loopback service unless allowed, by any name, redirect or socket",
  ignore: !runnable,
  async fn() {
    // Its allow-list names loopback servers: the operator's choice (host --allow-private-net);
    // without it they stay denied (tests/net_permissions_test.ts).
    await using api = await startApiHost({ allowPrivateNet: true });
    const neighbour = await deploy(api, "neighbour", {
      "main.ts": `export default { fetch: () => new Response("neighbour") };`,
    });
    const secret = countingServer();
    const secret6 = (() => {
      try {
        return countingServer("::1");
      } catch {
        return undefined; // no IPv6 loopback here
      }
    })();
    const allowed = countingServer("127.0.0.1", "allowed");
    const redirector = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
      const to = new URL(request.url).searchParams.get("to");
      return to ? Response.redirect(to, 302) : new Response("redirector");
    });
    // A service on an abstract unix socket, in the network namespace the sandbox shares.
    const abstractName = `\0deploy-tenant-isolation-${crypto.randomUUID()}`;
    const abstract = Deno.listen({ transport: "unix", path: abstractName });
    let abstractHits = 0;
    (async () => {
      for await (const conn of abstract) {
        abstractHits++;
        conn.close();
      }
    })().catch(() => {});
    try {
      const port = secret.port;
      const urls = [
        `http://127.0.0.1:${port}/`,
        `http://localhost:${port}/`,
        `http://LOCALHOST.:${port}/`,
        `http://0.0.0.0:${port}/`,
        `http://0:${port}/`,
        `http://127.1.2.3:${port}/`,
        `http://127.1:${port}/`,
        `http://2130706433:${port}/`,
        `http://0x7f000001:${port}/`,
        `http://[::ffff:127.0.0.1]:${port}/`,
        `http://[::ffff:7f00:2]:${port}/`,
        `http://[::1]:${secret6?.port ?? port}/`,
        `http://[::]:${secret6?.port ?? port}/`,
        `http://[0:0:0:0:0:0:0:1]:${secret6?.port ?? port}/`,
        // The host's own API and router.
        `http://127.0.0.1:${api.host.port}/v1/organizations/${api.host.organizationId}`,
        `http://127.0.0.1:${api.host.port}/health`,
        ...(await loopbackNames()).map((name) => `http://${name}:${port}/`),
      ];
      const attempts: Attempt[] = [];
      for (const url of urls) {
        attempts.push(
          [`fetch ${url}`, `fetch(${lit(url)}).then((r) => r.text())`],
          [`node http ${url}`, `nodeGet(${lit(url)})`],
          [`websocket ${url}`, `webSocket(${lit(url.replace("http:", "ws:"))})`],
        );
      }
      for (const hostname of ["127.0.0.1", "localhost", "::1", "0.0.0.0", "127.9.9.9"]) {
        attempts.push(
          [
            `Deno.connect ${hostname}`,
            `Deno.connect({ hostname: ${lit(hostname)}, port: ${port} })`,
          ],
          [
            `node net ${hostname}`,
            `new Promise((ok, no) => net.connect(${port}, ${lit(hostname)}, ok).on("error", no))`,
          ],
        );
      }
      const victimSocket = join(api.host.dataDir, "deployments", neighbour.id, "run", "http.sock");
      attempts.push(
        [
          "connect abstract socket",
          `Deno.connect({ transport: "unix", path: ${lit(abstractName)} })`,
        ],
        ["node connect abstract socket", `connectUnix(${lit(abstractName)})`],
        [
          "connect another tenant's socket",
          `Deno.connect({ transport: "unix", path: ${lit(victimSocket)} })`,
        ],
        ["listen on all interfaces", `Deno.listen({ port: 0 })`],
        ["listen on loopback", `Deno.listen({ hostname: "127.0.0.1", port: 0 })`],
        ["listen on IPv6", `Deno.listen({ hostname: "::", port: 0 })`],
        [
          "listen on another unix socket",
          `Deno.listen({ transport: "unix", path: "/run/deployment/other.sock" })`,
        ],
      );
      // Listening sends nothing: the machine's own addresses, which a tenant must not serve on.
      for (const { address } of Deno.networkInterfaces()) {
        if (address.startsWith("fe80:")) continue; // needs a scope id
        attempts.push([
          `listen on ${address}`,
          `Deno.listen({ hostname: ${lit(address)}, port: 0 })`,
        ]);
      }
      const open = await deploy(api, "open-net", { "main.ts": attackerSource(attempts) });
      const report = await attack(api, open);
      // Abstract sockets live in the network namespace: only the sandbox's filter stops them.
      assertAllBlocked(report, (name) => !filtered && name.includes("abstract"));
      // Loopback addresses and names resolving to them are refused by Deno's permissions.
      for (const url of urls) {
        assert.match(report.results[`fetch ${url}`], /NotCapable|Requires net access/, url);
      }
      if (filtered) {
        // The abstract namespace is the host's: the network filter refuses the connection.
        assert.match(report.results["connect abstract socket"], /Permission denied|os error 13/);
      }

      // Deno allows private IPv6 ranges it cannot list; the filter keeps the tenant to IPv4.
      const ipv6 = await deploy(api, "ipv6-probe", {
        "main.ts": attackerSource([
          [
            "query fd00::/8",
            `Deno.permissions.query({ name: "net", host: "[fd00:dead:beef::1]:80" }).then((s) => s.state)`,
          ],
          ["listen fd00::/8", `Deno.listen({ hostname: "fd00:dead:beef::1", port: 0 })`],
        ]),
      });
      const probe = await attack(api, ipv6);
      assert.equal(probe.results["query fd00::/8"], "ALLOWED: granted", "Deno's own gap");
      if (filtered) {
        assert.match(probe.results["listen fd00::/8"], /Address family not supported|os error 97/);
      }

      // An allow-list opens what it names; a redirect from there elsewhere is refused.
      const listed = await deploy(api, "listed-net", {
        "main.ts": attackerSource([
          ["allowed", `fetch(${lit(`http://127.0.0.1:${allowed.port}/`)}).then((r) => r.text())`],
          [
            "redirect target",
            `fetch(${lit(`http://127.0.0.1:${redirector.addr.port}/`)}).then((r) => r.text())`,
          ],
          ...[
            `http://127.0.0.1:${port}/`,
            `http://localhost:${port}/`,
            `http://[::ffff:127.0.0.1]:${port}/`,
          ]
            .map((to): Attempt => [
              `redirect to ${to}`,
              `fetch(${
                lit(`http://127.0.0.1:${redirector.addr.port}/?to=${encodeURIComponent(to)}`)
              }).then((r) => r.text())`,
            ]),
          [
            "connect abstract socket",
            `Deno.connect({ transport: "unix", path: ${lit(abstractName)} })`,
          ],
          ["other port", `fetch(${lit(`http://127.0.0.1:${port}/`)}).then((r) => r.text())`],
        ]),
      }, { net: [`127.0.0.1:${allowed.port}`, `127.0.0.1:${redirector.addr.port}`] });
      const viaList = await attack(api, listed);
      assert.equal(viaList.results.allowed, "ALLOWED: allowed");
      assert.equal(viaList.results["redirect target"], "ALLOWED: redirector");
      assertAllBlocked(viaList, (name) => name === "allowed" || name === "redirect target");

      // No network at all: its own network namespace under the sandbox.
      const none = await deploy(api, "no-net", {
        "main.ts": attackerSource([
          ["fetch", `fetch(${lit(`http://127.0.0.1:${allowed.port}/`)})`],
          [
            "connect abstract socket",
            `Deno.connect({ transport: "unix", path: ${lit(abstractName)} })`,
          ],
          ["listen", `Deno.listen({ port: 0 })`],
        ]),
      }, { net: [] });
      assertAllBlocked(await attack(api, none), (name) => !sandboxed && name.includes("abstract"));

      assert.equal(secret.hits(), 0, "the loopback service was reached");
      assert.equal(secret6?.hits() ?? 0, 0, "the IPv6 loopback service was reached");
      if (filtered) assert.equal(abstractHits, 0, "the abstract socket was reached");
      assert.equal(allowed.hits(), 1);
    } finally {
      abstract.close();
      await Promise.all([
        secret.server.shutdown(),
        secret6?.server.shutdown(),
        allowed.server.shutdown(),
        redirector.shutdown(),
      ]);
    }
  },
});

// ---- neighbours ----

/** Answers with an id fixed for the life of its process, so a restart shows. */
const NEIGHBOUR = `const id = crypto.randomUUID();
export default { fetch: () => new Response(id) };
`;

/** Deploys the neighbour; returns a check that it answers from the same process as at first. */
async function quietNeighbour(api: ApiHost): Promise<() => Promise<void>> {
  const neighbour = await deploy(api, "neighbour", { "main.ts": NEIGHBOUR });
  const first = (await call(neighbour)).text;
  return async () => {
    const answer = await call(neighbour);
    assert.deepEqual(answer, { status: 200, text: first }, "the neighbour restarted");
  };
}

/** Why the host cannot make tenant cgroups here, or `undefined` when it can. */
const noCgroups = await (async () => {
  const support = detectCgroups();
  if (support.kind === "none") return support.reason;
  await support.cgroups.close();
})();

for (const cgroups of [true, false]) {
  const skipped = cgroups && noCgroups;
  Deno.test({
    name: "a tenant over its memory is killed, its requests get MEMORY_LIMIT, it restarts; its " +
      `neighbour serves on (${cgroups ? "cgroups: the kernel" : "--no-cgroups: the guard"} ` +
      `stops ArrayBuffers)${
        skipped ? ` [skipped: no cgroups the host can make here: ${noCgroups}]` : ""
      }`,
    ignore: !runnable || !!skipped,
    fn: () => memoryLimitTest(cgroups),
  });
}

async function memoryLimitTest(cgroups: boolean) {
  {
    // Through the router: HAProxy learns MEMORY_LIMIT from a verdict the host sets when V8
    // reports the heap full, and a process that dies of it faster than that admin call gets
    // `deploymentUnavailable` from HAProxy (seen here). Its kept-alive connections also get
    // closed rather than answered (see the crash test below). So does a process the kernel
    // kills at its cgroup's limit, which the host learns of only when it has exited.
    await using api = await startApiHost({
      memoryMb: 64,
      guard: { intervalMs: 200 },
      frontProxy: false,
      cgroups,
    });
    const assertNeighbourUnaffected = await quietNeighbour(api);

    // The V8 heap cap, and ArrayBuffers (outside that cap) by the resident memory guard.
    const hog = await deploy(api, "memory-hog", {
      "main.ts": `const id = crypto.randomUUID();
        export default { async fetch(request) {
          const path = new URL(request.url).pathname;
          const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
          if (path === "/heap") {
            const hoard = [];
            while (true) hoard.push(new Array(100_000).fill(hoard.length));
          }
          if (path === "/buffers") {
            const hoard = [];
            while (true) {
              hoard.push(new Uint8Array(16 << 20).fill(1));
              await sleep(10);
            }
          }
          if (path === "/slow") await sleep(30_000);
          return new Response(id);
        } };`,
    });
    for (const path of ["/buffers", "/heap"]) {
      const before = (await call(hog)).text;
      const inFlight = call(hog, "/slow");
      await new Promise((resolve) => setTimeout(resolve, 200));
      const killed = await call(hog, path);
      assert.equal(killed.status, 502, killed.text);
      assert.equal(JSON.parse(killed.text).code, "MEMORY_LIMIT");
      const other = await inFlight;
      assert.equal(other.status, 502, "the request in flight fails with the process");
      assert.equal(JSON.parse(other.text).code, "MEMORY_LIMIT");
      const logged = await waitForLog(api, hog.id, /^Memory limit exceeded/);
      if (path === "/buffers") {
        // Who stopped it: the kernel at the cgroup's limit, or the guard's sample over it.
        assert.match(
          logged,
          cgroups
            ? /^Memory limit exceeded: the process reached its limit of 144 MiB, terminated$/
            : /^Memory limit exceeded: the process used \d+ MiB \(the limit is 144 MiB\), terminated$/,
        );
      }
      const after = await call(hog);
      assert.equal(after.status, 200, "it restarts on the next request");
      assert.notEqual(after.text, before);
      await assertNeighbourUnaffected();
    }
  }
}

Deno.test({
  name: "a tenant burning CPU or crashing is stopped and restarted; its neighbour serves on",
  ignore: !runnable,
  async fn() {
    await using api = await startApiHost({
      guard: { intervalMs: 200, cpuIdleWindowMs: 1_500, maxCpuFraction: 0.5 },
    });
    const assertNeighbourUnaffected = await quietNeighbour(api);

    // CPU: a busy timer at import, with no request in flight, is stopped by the guard.
    const burner = await deploy(api, "cpu-burner", {
      "main.ts": `setInterval(() => {
          const end = performance.now() + 50;
          while (performance.now() < end) { /* burn */ }
        }, 60);
        const id = crypto.randomUUID();
        export default { fetch: () => new Response(id) };`,
    });
    assert.equal(burner.status, "success");
    await waitForLog(api, burner.id, /^CPU time limit exceeded: .* with no request in flight/);
    const restarted = await call(burner);
    assert.equal(restarted.status, 200, "it restarts on the next request");
    await assertNeighbourUnaffected();

    // Crashes: Deno.exit(), a throw at import (its second boot), an unhandled rejection.
    const database = await createDatabase(api, "crasher");
    const crasher = await deploy(api, "crasher", {
      "main.ts": `const kv = await Deno.openKv();
        const boots = ((await kv.get(["boots"])).value ?? 0) + 1;
        await kv.set(["boots"], boots);
        if (boots === 2) throw new Error("crash at import, boot 2");
        export default { fetch(request) {
          const path = new URL(request.url).pathname;
          if (path === "/exit") Deno.exit(7);
          if (path === "/reject") {
            setTimeout(() => Promise.reject(new Error("unhandled boom")), 10);
            return new Response("rejecting");
          }
          return new Response("boot " + boots);
        } };`,
    }, { databaseId: database });
    assert.equal((await call(crasher)).text, "boot 1");
    // On its own connection: on a kept-alive one HAProxy closes the connection instead of
    // answering, for the client to retry, and Deno's fetch does retry (the retry restarts it).
    closeInvokeClients();
    assert.ok((await call(crasher, "/exit")).status >= 500, "the request dies with the process");
    await waitForLog(api, crasher.id, /exited with code 7 unexpectedly; it restarts/);
    const importCrash = await call(crasher);
    assert.equal(importCrash.status, 502);
    assert.match(JSON.parse(importCrash.text).message, /failed to start/);
    await waitForLog(api, crasher.id, /crash at import, boot 2/);
    assert.equal((await call(crasher)).text, "boot 3");
    assert.equal((await call(crasher, "/reject")).text, "rejecting");
    await waitForLog(api, crasher.id, /^Uncaught \(in promise\) Error: unhandled boom/);
    await waitForLog(api, crasher.id, /exited with code 1 unexpectedly/);
    assert.equal((await call(crasher)).text, "boot 4");
    await assertNeighbourUnaffected();
  },
});

/** The 99th percentile of `samples`. */
function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
}

/** Latencies (ms) of `count` calls, one after another. */
async function latencies(deployment: Deployed, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const { status } = await call(deployment);
    samples.push(performance.now() - start);
    assert.equal(status, 200);
  }
  return samples;
}

/**
 * The attacker's clients, in their own process (as they would be): `connections` requests
 * left hanging, one client reading huge responses fast (a 20 ms pause per MiB, so at most
 * 50 MiB/s: the clients share this machine's two cores with the host), four reading them
 * slowly (64 KiB every 100 ms). Prints "ready" once all are under way, then the bytes read so far
 * four times a second; runs until killed.
 */
const ATTACK_CLIENTS = `
const [origin, host, connections, invokeModule] = Deno.args;
const { invoke } = await import(invokeModule);
const open = [];
const request = new TextEncoder().encode(\`GET /hang HTTP/1.1\\r\\nhost: \${host}\\r\\n\\r\\n\`);
const { hostname, port } = new URL(origin);
for (let i = 0; i < Number(connections); i++) {
  const conn = await Deno.connect({ hostname, port: Number(port) });
  await conn.write(request);
  open.push(conn);
}
let read = 0;
const download = async (pauseEvery, pauseMs) => {
  for (;;) {
    const response = await invoke(\`http://\${host}/huge\`, undefined, { via: origin, timeoutMs: 0 });
    let unpaused = 0;
    for await (const chunk of response.body) {
      read += chunk.length;
      unpaused += chunk.length;
      if (unpaused < pauseEvery) continue;
      unpaused = 0;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
};
download(1 << 20, 20);
for (let i = 0; i < 4; i++) download(64 * 1024, 100);
await new Promise((resolve) => setTimeout(resolve, 500));
console.log("ready");
setInterval(() => console.log(read), 250);
`;

/** Serves huge responses, never answers `/hang`, and starts or stops 5 000 1-ms timers. */
const NOISY = `const timers = [];
const chunk = new Uint8Array(64 * 1024).fill(120);
export default { async fetch(request) {
  const path = new URL(request.url).pathname;
  if (path === "/storm") for (let i = 0; i < 5_000; i++) timers.push(setInterval(() => {}, 1));
  if (path === "/calm") timers.splice(0).forEach(clearInterval);
  if (path === "/hang") await new Promise(() => {});
  if (path === "/huge") {
    let sent = 0;
    return new Response(new ReadableStream({
      pull(controller) {
        if (sent++ === 1024) controller.close(); // 64 MiB
        else controller.enqueue(chunk);
      },
    }));
  }
  return new Response("noisy " + timers.length);
} };
`;

/**
 * The neighbour's p99 under attack: within 2× its p99 alone behind HAProxy. Through the host's
 * own router the attacker's 1 500 connections cost the router's event loop ~0.3 ms each as they
 * arrive (node:http), which holds the neighbour's p99 at 10–30 ms while they do: there the
 * test holds what the router guarantees, that nobody starves (every call answered, the p99
 * under {@link ROUTER_P99_LIMIT_MS}), and docs/isolation.md says what an operator loses.
 */
const ROUTER_P99_LIMIT_MS = 250;

for (const frontProxy of [true, false]) {
  const path = frontProxy ? "behind HAProxy" : "through the host's own router";
  const bound = frontProxy ? "within 2x" : `under ${ROUTER_P99_LIMIT_MS} ms`;
  Deno.test(requires(frontProxy ? ["haproxy"] : [], {
    name:
      `huge responses, slow clients, open connections and timers in one tenant leave its neighbour's p99 ${bound}, ${path}`,
    ignore: !runnable,
    async fn() {
      // The guard would stop the timer storm: here its effect on the neighbour is measured.
      await using api = await startApiHost({
        guard: { cpuIdleWindowMs: 120_000 },
        frontProxy,
      });
      const neighbour = await deploy(api, "quiet", { "main.ts": NEIGHBOUR });
      const attacker = await deploy(api, "noisy", { "main.ts": NOISY }, {
        requestTimeout: 120_000,
      });
      const script = join(api.host.dataDir, "..", "attack_clients.js");
      await Deno.writeTextFile(script, ATTACK_CLIENTS);
      await latencies(neighbour, 30); // warm up

      /** The neighbour's p99 alone, then with the attacker's timers and clients at work. */
      const round = async (): Promise<{ alone: number; attacked: number }> => {
        const alone = p99(await latencies(neighbour, 1_000));
        assert.equal((await call(attacker, "/storm")).text, "noisy 5000");
        const clients = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            script,
            `http://127.0.0.1:${api.host.port}`,
            attacker.host,
            "1500",
            new URL("../lib/invoke.ts", import.meta.url).href,
          ],
          stdout: "piped",
          stderr: "inherit",
        }).spawn();
        let lastLine = "";
        const started = Promise.withResolvers<void>();
        const reading = (async () => {
          for await (const text of clients.stdout.pipeThrough(new TextDecoderStream())) {
            lastLine = text.trim().split("\n").at(-1) ?? lastLine;
            if (lastLine === "ready") started.resolve();
          }
        })();
        try {
          await Promise.race([started.promise, clients.status]);
          assert.equal(lastLine, "ready", "the attack clients did not start");
          const attacked = p99(await latencies(neighbour, 1_000));
          assert.ok(Number(lastLine) > 8 * 2 ** 20, `the clients read only ${lastLine} bytes`);
          return { alone, attacked };
        } finally {
          clients.kill("SIGKILL");
          await clients.status;
          await reading;
          assert.equal(
            (await call(attacker, "/calm")).text,
            "noisy 0",
            "the attacker still serves",
          );
        }
      };
      // Below a few milliseconds a p99 is scheduler noise on a shared machine: 5 ms at least.
      const withinLimit = ({ alone, attacked }: { alone: number; attacked: number }) =>
        frontProxy ? attacked <= 2 * Math.max(alone, 5) : attacked <= ROUTER_P99_LIMIT_MS;
      let result = await round();
      if (!withinLimit(result)) result = await round(); // once more
      const { alone, attacked } = result;
      console.log(
        `neighbour p99: ${alone.toFixed(2)} ms alone, ${attacked.toFixed(2)} ms attacked`,
      );
      assert.ok(withinLimit(result), `p99 ${attacked.toFixed(2)} ms, ${alone.toFixed(2)} ms alone`);
    },
  }));
}

Deno.test({
  name: "a file the host writes for one deployment never reaches another's bytes or the blob store",
  ignore: !runnable,
  async fn() {
    await using api = await startApiHost();
    // The victim's data.json and the attacker's copy of it under the name of the host's own
    // config file are one blob (each project links a copy of its own into its app dirs).
    const data = JSON.stringify({ price: 100 });
    const victim = await deploy(api, "victim-shop", {
      "main.ts": `const data = await Deno.readTextFile(new URL("./data.json", import.meta.url));
        export default { fetch: () => new Response(data) };`,
      "data.json": data,
    });
    assert.equal((await call(victim)).text, data);
    const attacker = await deploy(api, "config-writer", {
      "main.ts": `export default { fetch: () => new Response("attacker") };`,
      ".deploy-tenant.json": data,
    }, { compilerOptions: { jsx: "react" } });
    assert.equal(attacker.status, "success");
    assert.equal((await call(attacker)).text, "attacker");

    // The victim's file and its blob are whole, and a fresh deployment of it serves its bytes.
    const hash = gitSha1(data);
    const blob = join(api.host.dataDir, "blobs", hash.slice(0, 2), hash.slice(2));
    assert.equal(await Deno.readTextFile(blob), data, "the shared blob was rewritten");
    const again = await deploy(api, "victim-again", {
      "main.ts": `const data = await Deno.readTextFile(new URL("./data.json", import.meta.url));
        export default { fetch: () => new Response(data) };`,
      "data.json": data,
    });
    assert.equal((await call(again)).text, data);
  },
});

/** Sends `text` as raw bytes to the host's port; returns the status line and the body. */
async function rawRequest(port: number, text: string): Promise<{ status: string; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(text));
  const answer = await new Response(conn.readable).text();
  const [head, body = ""] = answer.split("\r\n\r\n");
  return { status: head.split("\r\n")[0], body };
}

for (const frontProxy of [true, false]) {
  const path = frontProxy ? "behind HAProxy" : "through the host's own router";
  Deno.test(requires(frontProxy ? ["haproxy"] : [], {
    name: `a request without a usable Host is a 400, and Forwarded never reaches a tenant, ${path}`,
    ignore: !runnable,
    async fn() {
      await using api = await startApiHost({ frontProxy });
      const echo = await deploy(api, "header-echo", {
        "main.ts": `export default { fetch: (request) =>
          Response.json({ forwarded: request.headers.get("forwarded") }) };`,
      });
      const port = api.host.port;
      const unusable = [
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nhost:\r\nconnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nhost: a%00b\r\nconnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nhost: a b/c\r\nconnection: close\r\n\r\n",
        // A deployment's name with a port that is none: Deno cannot make the tenant's URL of it.
        ...[":99999", ":80a", ":"].map((port) =>
          `GET / HTTP/1.1\r\nhost: ${echo.host.replace(/:\d+$/, "")}${port}\r\n` +
          "connection: close\r\n\r\n"
        ),
      ];
      for (const text of unusable) {
        const { status, body } = await rawRequest(port, text);
        assert.match(status, /^HTTP\/1\.[01] 400 /, JSON.stringify(text));
        assert.equal(JSON.parse(body).code, "invalidHost", JSON.stringify(text));
      }
      // Obsolete line folding: refused by the HTTP parser itself, never a 500.
      const folded = await rawRequest(
        port,
        "GET / HTTP/1.1\r\nhost: a\r\n b\r\nconnection: close\r\n\r\n",
      );
      assert.match(folded.status, / 400 /);

      const { body } = await rawRequest(
        port,
        `GET / HTTP/1.1\r\nhost: ${echo.host}\r\nforwarded: for=10.0.0.1;proto=https\r\n` +
          "connection: close\r\n\r\n",
      );
      assert.deepEqual(JSON.parse(body.replace(/^[0-9a-f]+\r\n/, "").split("\r\n")[0]), {
        forwarded: null,
      });
    },
  }));
}

Deno.test({
  name: "a tenant logging as fast as it can grows the data dir by its log budget, not its output",
  ignore: !runnable,
  async fn() {
    const budget = 4 << 20;
    await using api = await startApiHost({
      maxLogBytesPerDeployment: budget,
      maxLogBytesPerSecond: 2 << 20,
    });
    const flooder = await deploy(api, "log-flood", {
      "main.ts": `export default { async fetch() {
        const end = Date.now() + 5000;
        // Lines long enough that even a loaded machine writes more than the rate and its
        // 4 s burst let through (1 000-byte lines did not, once): the drop must happen.
        const line = "x".repeat(16_000);
        while (Date.now() < end) {
          for (let i = 0; i < 100; i++) console.log(line);
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
        return new Response("done");
      } };`,
    }, { requestTimeout: 60_000 });
    const dataDirBytes = () =>
      [...Deno.readDirSync(api.host.dataDir)]
        .filter((entry) => entry.name.startsWith("host.db"))
        .reduce((sum, entry) => sum + Deno.statSync(join(api.host.dataDir, entry.name)).size, 0);
    const before = dataDirBytes();
    assert.equal((await call(flooder, "/", 60_000)).text, "done");
    await new Promise((resolve) => setTimeout(resolve, 500)); // the last batch
    const growth = dataDirBytes() - before;
    // The budget counts message bytes; rows and pages take up to as much again, and SQLite's
    // write-ahead log is kept to 4 MiB. Unbounded, the flood writes well over 100 MiB.
    assert.ok(growth <= 2 * budget + (5 << 20), `the data dir grew by ${growth} bytes`);
    const logs = await appLogs(api, flooder.id);
    assert.ok(
      logs.some((message) => /log lines \(\d+ bytes\) were dropped: over the rate/.test(message)),
      "one line says what was dropped",
    );
  },
});

// ---- without an OS sandbox ----

Deno.test("without bubblewrap the host refuses tenants unless --unsandboxed, and says which isolation is in force", async () => {
  const binDir = await pathWithout(["bwrap"]);
  const wrapper = ["/usr/bin/env", `PATH=${binDir}`];
  // The test helper adds --unsandboxed on machines without bwrap; here it must not.
  const accepted = Deno.env.get("DEPLOY_TENANT_TEST_UNSANDBOXED");
  Deno.env.delete("DEPLOY_TENANT_TEST_UNSANDBOXED");
  try {
    for (const unsandboxed of [false, true]) {
      const host = await startTestHost({ wrapper, args: unsandboxed ? ["--unsandboxed"] : [] });
      try {
        const status = await runCli(["host", "status", "--data-dir", host.dataDir, "--json"]);
        assert.equal(status.code, 0, describe(status));
        const { isolation } = JSON.parse(status.stdout);
        assert.match(
          isolation,
          unsandboxed
            ? /^NONE \(--unsandboxed; bubblewrap \(bwrap\) is not installed\): Deno permissions only$/
            : /^none available \(bubblewrap \(bwrap\) is not installed\): tenants will not run$/,
        );
        assert.ok(host.output().includes(`isolation: ${isolation}`), "the host's log says so");

        const dir = join(host.tempDir, "app");
        await Deno.mkdir(dir);
        await Deno.writeTextFile(join(dir, "main.ts"), NEIGHBOUR);
        const cli = (...args: string[]) => runCli(args, { env: host.env });
        assert.equal((await cli("project", "create", "unsandboxed-hook")).code, 0);
        const deployed = await cli("deploy", dir, "--project", "unsandboxed-hook", "--json");
        if (unsandboxed) {
          assert.equal(deployed.code, 0, describe(deployed));
          const { id } = JSON.parse(deployed.stdout);
          assert.equal((await cli("invoke", id, "/")).code, 0);
        } else {
          assert.equal(deployed.code, 1, "the build fails");
          assert.match(deployed.stderr, /No OS sandbox is available .*refusing to run tenant code/);
          assert.match(deployed.stderr, /--unsandboxed/);
        }
      } finally {
        await host.stop();
      }
    }
  } finally {
    if (accepted !== undefined) Deno.env.set("DEPLOY_TENANT_TEST_UNSANDBOXED", accepted);
    await Deno.remove(binDir, { recursive: true });
  }
});
