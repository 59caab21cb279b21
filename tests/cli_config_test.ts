import assert from "node:assert/strict";
import { join } from "node:path";
import { readDeployConfig, resolveApiConfig, stripJsonComments } from "../lib/config.ts";
import { DeployTenantError, ExitCode } from "../lib/errors.ts";

const REMOTE = "https://api.example.test/v1";

function assertFails(code: string, exitCode: number) {
  return (error: unknown) => {
    assert.ok(error instanceof DeployTenantError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.exitCode, exitCode);
    assert.ok(error.hint, "an expected error says what to do");
    return true;
  };
}

Deno.test("resolveApiConfig prefers flags to the environment", async () => {
  const env = {
    DEPLOY_API_URL: REMOTE,
    DEPLOY_ACCESS_TOKEN: "env-token",
    DEPLOY_ORG_ID: "env-org",
  };
  const fromEnv = await resolveApiConfig({}, { env });
  assert.deepEqual(fromEnv, {
    apiUrl: REMOTE,
    token: "env-token",
    organizationId: "env-org",
    apiVersion: "v1",
    source: "configured",
  });
  const fromFlags = await resolveApiConfig(
    { api: "https://other.test/v1", token: "flag-token", org: "flag-org" },
    { env },
  );
  assert.equal(fromFlags.apiUrl, "https://other.test/v1");
  assert.equal(fromFlags.token, "flag-token");
  assert.equal(fromFlags.organizationId, "flag-org");
});

Deno.test("resolveApiConfig accepts DENO_DEPLOY_TOKEN, after DEPLOY_ACCESS_TOKEN", async () => {
  const env = { DEPLOY_API_URL: REMOTE, DENO_DEPLOY_TOKEN: "deno", DEPLOY_ORG_ID: "o" };
  assert.equal((await resolveApiConfig({}, { env })).token, "deno");
  const both = { ...env, DEPLOY_ACCESS_TOKEN: "deploy" };
  assert.equal((await resolveApiConfig({}, { env: both })).token, "deploy");
});

Deno.test("resolveApiConfig rejects an API without token (exit 3) or organization (exit 2)", async () => {
  await assert.rejects(
    resolveApiConfig({ api: REMOTE, org: "o" }, { env: {} }),
    assertFails("missingToken", ExitCode.auth),
  );
  await assert.rejects(
    resolveApiConfig({ api: REMOTE, token: "t" }, { env: {} }),
    assertFails("missingOrganization", ExitCode.usage),
  );
  await assert.rejects(
    resolveApiConfig({ api: "ftp://x", token: "t", org: "o" }, { env: {} }),
    assertFails("invalidApiUrl", ExitCode.usage),
  );
});

Deno.test("resolveApiConfig uses a healthy local host from host.json", async () => {
  const dataDir = await Deno.makeTempDir();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    (request) =>
      new URL(request.url).pathname === "/health"
        ? new Response("ok")
        : new Response("no", { status: 404 }),
  );
  try {
    const apiUrl = `http://127.0.0.1:${server.addr.port}/v1`;
    await Deno.writeTextFile(
      join(dataDir, "host.json"),
      JSON.stringify({
        apiUrl,
        token: "host-token",
        organizationId: "host-org",
        port: server.addr.port,
        baseDomain: "localhost",
        pid: Deno.pid, // a live process
      }),
    );
    const env = { DEPLOY_TENANT_DATA_DIR: dataDir };
    const config = await resolveApiConfig({}, { env, startHost: false });
    assert.equal(config.source, "localHost");
    assert.equal(config.apiUrl, apiUrl);
    assert.equal(config.token, "host-token");
    assert.equal(config.organizationId, "host-org");
    assert.equal(config.localHost?.started, false);

    // A token or organization given by flag or environment still wins over the host's.
    const explicit = await resolveApiConfig({ token: "mine" }, { env, startHost: false });
    assert.equal(explicit.token, "mine");
    const fromEnv = await resolveApiConfig({}, {
      env: { ...env, DEPLOY_ORG_ID: "env-org" },
      startHost: false,
    });
    assert.equal(fromEnv.organizationId, "env-org");
  } finally {
    await server.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("resolveApiConfig ignores a host.json whose process is gone", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const finished = await new Deno.Command(Deno.execPath(), {
      args: ["--version"],
      stdout: "null",
    })
      .spawn();
    const deadPid = finished.pid;
    await finished.status;
    await Deno.writeTextFile(
      join(dataDir, "host.json"),
      JSON.stringify({
        apiUrl: "http://127.0.0.1:9/v1",
        token: "t",
        organizationId: "o",
        port: 9,
        baseDomain: "localhost",
        pid: deadPid,
      }),
    );
    await assert.rejects(
      resolveApiConfig({}, { env: { DEPLOY_TENANT_DATA_DIR: dataDir }, startHost: false }),
      assertFails("hostNotRunning", ExitCode.unavailable),
    );
    // DEPLOY_TENANT_AUTOSTART=0 turns starting off too.
    await assert.rejects(
      resolveApiConfig({}, {
        env: { DEPLOY_TENANT_DATA_DIR: dataDir, DEPLOY_TENANT_AUTOSTART: "0" },
      }),
      assertFails("hostNotRunning", ExitCode.unavailable),
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("resolveApiConfig ignores a host that does not answer /health", async () => {
  const dataDir = await Deno.makeTempDir();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => new Response("starting", { status: 503 }),
  );
  try {
    await Deno.writeTextFile(
      join(dataDir, "host.json"),
      JSON.stringify({
        apiUrl: `http://127.0.0.1:${server.addr.port}/v1`,
        token: "t",
        organizationId: "o",
        port: server.addr.port,
        baseDomain: "localhost",
        pid: Deno.pid,
      }),
    );
    await assert.rejects(
      resolveApiConfig({}, { env: { DEPLOY_TENANT_DATA_DIR: dataDir }, startHost: false }),
      assertFails("hostNotRunning", ExitCode.unavailable),
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("readDeployConfig reads the deploy key of deno.jsonc with comments", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await readDeployConfig(dir), {}, "no config file");
    await Deno.writeTextFile(
      join(dir, "deno.jsonc"),
      `{
        // where this code goes
        "deploy": {
          "project": "crm-lead-hook", /* the customer's project */
          "entrypoint": "src/main.ts",
          "include": "src/**",
          "exclude": ["**/*.test.ts"],
          "envFile": ".env.production",
        },
        "imports": { "x": "https://example.test/a//b" },
      }`,
    );
    assert.deepEqual(await readDeployConfig(dir), {
      project: "crm-lead-hook",
      entrypoint: "src/main.ts",
      include: ["src/**"],
      exclude: ["**/*.test.ts"],
      envFile: ".env.production",
    });

    await Deno.writeTextFile(
      join(dir, "deno.json"),
      `{"deploy": {"runtime": {"type": "dynamic", "entrypoint": "./server.ts"}}}`,
    );
    assert.deepEqual(
      await readDeployConfig(dir),
      { entrypoint: "server.ts" },
      "Deno Deploy's deploy.runtime.entrypoint",
    );

    await Deno.writeTextFile(join(dir, "deno.json"), `{"tasks": {}}`);
    assert.deepEqual(await readDeployConfig(dir), {}, "deno.json wins and has no deploy key");

    await Deno.writeTextFile(join(dir, "deno.json"), `{"deploy": {"project": 42}}`);
    await assert.rejects(readDeployConfig(dir), (error: unknown) => {
      assertFails("invalidDeployConfig", ExitCode.usage)(error);
      assert.match((error as Error).message, /deno\.json: "deploy\.project" must be a string/);
      return true;
    });

    await Deno.writeTextFile(join(dir, "deno.json"), `{"deploy": `);
    await assert.rejects(readDeployConfig(dir), assertFails("invalidDeployConfig", ExitCode.usage));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stripJsonComments leaves comment-like text inside strings alone", () => {
  const text = `{"url": "http://x/*y*/", "a": "//b", "e": "x,}", // gone
  "c": "\\"//\\"", /* gone */ "d": [1, 2,],}`;
  assert.deepEqual(JSON.parse(stripJsonComments(text)), {
    url: "http://x/*y*/",
    a: "//b",
    e: "x,}",
    c: '"//"',
    d: [1, 2],
  });
});
