/**
 * The local host's v2 API through HTTP: v2's status codes and error codes, cursor
 * pagination with `Link`, NDJSON and SSE streams that end with the build, failures with
 * `failure_reason`/`failure_detail`, cancel, delete rules, logs' `Accept` rule, and v1 and v2
 * seeing one store (a project is an app, a deployment a revision, both ways).
 */
import assert from "node:assert/strict";
import { type ApiHost, ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";

const HELLO = "Deno.serve(() => new Response('hello'));\n";

async function errorOf(response: Response): Promise<{ status: number; code: string }> {
  const body = await response.json();
  assert.equal(typeof body.message, "string");
  assert.ok(response.headers.get("x-deno-trace-id"), "errors carry x-deno-trace-id");
  return { status: response.status, code: body.code };
}

async function deploy(api: ApiHost, app: string, body: Record<string, unknown>) {
  const response = await api.request("POST", `/v2/apps/${app}/deploy`, { json: body });
  assert.equal(response.status, 202, await response.clone().text());
  return await response.json() as { id: string; status: string };
}

/** Reads a stream's JSON events (NDJSON lines or SSE `data:`) to its end. */
async function events(response: Response): Promise<Record<string, unknown>[]> {
  const text = await response.text();
  const lines = response.headers.get("content-type")?.includes("event-stream")
    ? text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6))
    : text.split("\n").filter(Boolean);
  return lines.map((line) => JSON.parse(line));
}

Deno.test("the host's v2 API: codes, pagination, streams and one store with v1", async (t) => {
  await using api = await startApiHost();

  await t.step(
    "apps: 200 on create, 409 on a taken slug, 400 on a bad one, 204 on delete",
    async () => {
      const created = await api.request("POST", "/api/v2/apps", { json: { slug: "v2-codes" } });
      assert.equal(created.status, 200);
      assert.ok(created.headers.get("x-deno-trace-id"));
      assert.deepEqual(
        await errorOf(await api.request("POST", "/v2/apps", { json: { slug: "v2-codes" } })),
        { status: 409, code: "APP_ALREADY_EXISTS" },
      );
      assert.deepEqual(
        await errorOf(await api.request("POST", "/v2/apps", { json: { slug: "Bad_Slug" } })),
        { status: 400, code: "INVALID_PROJECT_NAME" },
      );
      assert.deepEqual(
        await errorOf(await api.request("POST", "/v2/apps", { json: { slug: "x", nope: 1 } })),
        { status: 400, code: "INVALID_REQUEST" },
      );
      assert.deepEqual(await errorOf(await api.request("GET", "/v2/apps/nothing-here")), {
        status: 404,
        code: "APP_NOT_FOUND",
      });
      assert.deepEqual(await errorOf(await api.request("GET", "/v2/no/such/route")), {
        status: 404,
        code: "ENDPOINT_NOT_FOUND",
      });
      const deleted = await api.request("DELETE", "/v2/apps/v2-codes");
      assert.equal(deleted.status, 204);
    },
  );

  await t.step("lists page by cursor with an absolute Link until the last page", async () => {
    for (const n of [1, 2, 3, 4, 5]) {
      await ok(api, "POST", "/v2/apps", { json: { slug: `paged-${n}`, labels: { page: "yes" } } });
    }
    const seen: string[] = [];
    let next: string | undefined = `${api.origin}/v2/apps?limit=2&labels[page]=yes`;
    while (next) {
      const response = await api.request("GET", next.slice(api.origin.length));
      const page = await response.json() as { slug: string }[];
      assert.ok(page.length <= 2);
      seen.push(...page.map((app) => app.slug));
      next = response.headers.get("link")?.match(/<([^>]+)>; rel="next"/)?.[1];
      if (next) assert.ok(next.startsWith("http://"), "absolute");
    }
    assert.deepEqual(seen, ["paged-1", "paged-2", "paged-3", "paged-4", "paged-5"]);
    // Forged cursors: not the alphabet, not base64 at all ("a": a 500 before), not a position.
    for (const cursor of ["not!valid", "a", "abcde", "AAAA", "MS41", "LTE"]) {
      assert.deepEqual(
        await errorOf(await api.request("GET", `/v2/apps?cursor=${cursor}`)),
        { status: 400, code: "INVALID_REQUEST" },
        cursor,
      );
    }
  });

  await t.step("a v1 project is an app and a v2 revision a v1 deployment", async () => {
    const organization = api.host.organizationId;
    const project = await ok(api, "POST", `/v1/organizations/${organization}/projects`, {
      json: { name: "both-ways" },
    });
    const app = await ok(api, "GET", "/v2/apps/both-ways");
    assert.equal(app.id, project.id);
    const revision = await deploy(api, "both-ways", {
      assets: { "main.ts": { content: HELLO } },
      labels: { customer: "c9" },
    });
    assert.equal(await waitForBuild(api, revision.id), "success");
    const deployment = await ok(api, "GET", `/v1/deployments/${revision.id}`);
    assert.equal(deployment.projectId, project.id);
    assert.deepEqual(
      (deployment.domains as string[]).sort(),
      [`both-ways-${revision.id}.localhost`, "both-ways.localhost"].sort(),
      "v1 shows its own names",
    );
    const v2 = await ok(api, "GET", `/v2/revisions/${revision.id}`);
    assert.equal(v2.status, "succeeded");
    assert.deepEqual(v2.labels, { customer: "c9" });
    assert.deepEqual(
      (v2.timelines as { hostnames: string[] }[]).flatMap((t) => t.hostnames).sort(),
      [`both-ways-${revision.id}.local.localhost`, "both-ways.local.localhost"].sort(),
    );
  });

  await t.step("progress and build logs end with the build, as NDJSON or SSE", async () => {
    const revision = await deploy(api, "paged-1", {
      assets: { "main.ts": { content: HELLO } },
      config: { runtime: { type: "dynamic", entrypoint: "main.ts" } },
    });
    const ndjson = await api.request("GET", `/v2/revisions/${revision.id}/progress`, {
      headers: { accept: "application/x-ndjson" },
    });
    assert.equal(ndjson.headers.get("content-type"), "application/x-ndjson");
    const progress = await events(ndjson);
    assert.equal((progress.at(-1)!.building as { status: string }).status, "succeeded");
    const sse = await api.request("GET", `/v2/revisions/${revision.id}/build_logs`, {
      headers: { accept: "text/event-stream" },
    });
    assert.equal(sse.headers.get("content-type"), "text/event-stream");
    const logs = await events(sse);
    assert.ok(logs.some((entry) => String(entry.message).startsWith("Entry point: main.ts")));
    assert.ok(logs.every((entry) => entry.timestamp && entry.level && entry.step));
  });

  await t.step("a boot failure is failed/error with failure_detail boot_failed", async () => {
    const revision = await deploy(api, "paged-2", {
      assets: { "main.ts": { content: "throw new Error('no boot');\n" } },
    });
    await events(await api.request("GET", `/v2/revisions/${revision.id}/progress`));
    const failed = await ok(api, "GET", `/v2/revisions/${revision.id}`);
    assert.equal(failed.status, "failed");
    assert.equal(failed.failure_reason, "error");
    const detail = failed.failure_detail as { stage: string; code: string; message: string };
    assert.equal(detail.stage, "warmup");
    assert.equal(detail.code, "boot_failed");
    assert.match(detail.message, /no boot/, JSON.stringify(detail));
    const listed = await ok<{ id: string }[]>(
      api,
      "GET",
      "/v2/apps/paged-2/revisions?status=failed",
    );
    assert.deepEqual(listed.map((r) => r.id), [revision.id]);
    // Not serving, not building: it may go.
    assert.equal((await api.request("DELETE", `/v2/revisions/${revision.id}`)).status, 204);
  });

  await t.step("config.crons false: a revision registering Deno.cron fails its build", async () => {
    const cron = `Deno.cron("job", "0 * * * *", () => {});\n${HELLO}`;
    const off = await deploy(api, "paged-2", {
      assets: { "main.ts": { content: cron } },
      config: { runtime: { type: "dynamic", entrypoint: "main.ts" }, crons: false },
    });
    await events(await api.request("GET", `/v2/revisions/${off.id}/progress`));
    assert.equal((await ok(api, "GET", `/v2/revisions/${off.id}`)).status, "failed");
    const on = await deploy(api, "paged-2", { assets: { "main.ts": { content: cron } } });
    await events(await api.request("GET", `/v2/revisions/${on.id}/progress`));
    assert.equal(
      (await ok(api, "GET", `/v2/revisions/${on.id}`)).status,
      "succeeded",
      "on by default",
    );
  });

  await t.step("production cannot be deleted; retention other than auto is 403", async () => {
    const revision = await deploy(api, "paged-3", { assets: { "main.ts": { content: HELLO } } });
    await events(await api.request("GET", `/v2/revisions/${revision.id}/progress`));
    assert.deepEqual(await errorOf(await api.request("DELETE", `/v2/revisions/${revision.id}`)), {
      status: 409,
      code: "REVISION_ROUTED",
    });
    assert.deepEqual(
      await errorOf(
        await api.request("PATCH", `/v2/revisions/${revision.id}`, {
          json: { retention: "indefinite" },
        }),
      ),
      { status: 403, code: "REVISION_RETENTION_NOT_AVAILABLE" },
    );
  });

  await t.step("logs: JSON without end is 400; with end a page; no start is 400", async () => {
    const start = new Date(Date.now() - 60_000).toISOString();
    assert.deepEqual(
      await errorOf(
        await api.request("GET", `/v2/apps/paged-3/logs?start=${start}`, {
          headers: { accept: "application/json" },
        }),
      ),
      { status: 400, code: "INVALID_REQUEST" },
    );
    assert.deepEqual(await errorOf(await api.request("GET", "/v2/apps/paged-3/logs")), {
      status: 400,
      code: "INVALID_REQUEST",
    });
    const page = await ok(
      api,
      "GET",
      `/v2/apps/paged-3/logs?start=${start}&end=${new Date(Date.now() + 1000).toISOString()}`,
    );
    assert.ok(Array.isArray(page.logs));
    assert.ok("next_cursor" in page);
  });

  await t.step("layers: 201, 409 on a taken slug, no cycles, 409 while used", async () => {
    const base = await api.request("POST", "/v2/layers", { json: { slug: "base-layer" } });
    assert.equal(base.status, 201);
    await ok(api, "POST", "/v2/layers", { json: { slug: "top-layer", layers: ["base-layer"] } });
    assert.deepEqual(
      await errorOf(await api.request("POST", "/v2/layers", { json: { slug: "base-layer" } })),
      { status: 409, code: "LAYER_ALREADY_EXISTS" },
    );
    assert.deepEqual(
      await errorOf(
        await api.request("PATCH", "/v2/layers/base-layer", { json: { layers: ["top-layer"] } }),
      ),
      { status: 400, code: "INVALID_REQUEST" },
    );
    assert.deepEqual(await errorOf(await api.request("DELETE", "/v2/layers/base-layer")), {
      status: 409,
      code: "LAYER_IN_USE",
    });
    assert.equal((await api.request("DELETE", "/v2/layers/top-layer")).status, 204);
    assert.equal((await api.request("DELETE", "/v2/layers/base-layer")).status, 204);
  });

  await t.step(
    "domains: v2 shapes, verify, attach to a revision and detach, certificates",
    async () => {
      const created = await ok(api, "POST", "/v2/domains", { json: { domain: "shop.v2.test" } });
      assert.equal(created.kind, "base_only");
      const sets = created.dns_records as { name: string; type: string }[][];
      assert.ok(
        Array.isArray(sets[0]) && sets[0].some((r) => r.type === "A"),
        JSON.stringify(sets),
      );
      assert.ok(sets.every((set) => set.some((r) => r.name.startsWith("_acme-challenge."))));
      assert.deepEqual(
        await errorOf(
          await api.request("POST", "/v2/domains", { json: { domain: "shop.v2.test" } }),
        ),
        { status: 409, code: "DOMAIN_ALREADY_EXISTS" },
      );
      const verified = await ok(api, "POST", "/v2/domains/shop.v2.test/verify");
      assert.equal(verified.is_validated, true);

      const revision = await deploy(api, "paged-5", { assets: { "main.ts": { content: HELLO } } });
      await events(await api.request("GET", `/v2/revisions/${revision.id}/progress`));
      const attach = await api.request("PUT", `/v2/revisions/${revision.id}/domains`, {
        json: { production: ["shop.v2.test"] },
      });
      assert.equal(attach.status, 204, await attach.text());
      const served = await ok(api, "GET", `/v2/revisions/${revision.id}`);
      const production = (served.timelines as { context: string; hostnames: string[] }[])
        .find((t) => t.context === "production");
      assert.ok(production?.hostnames.includes("shop.v2.test"), JSON.stringify(served.timelines));
      const detach = `/v2/revisions/${revision.id}/domains/shop.v2.test`;
      assert.equal((await api.request("DELETE", detach)).status, 204);
      assert.deepEqual(await errorOf(await api.request("DELETE", detach)), {
        status: 404,
        code: "DOMAIN_NOT_ATTACHED",
      });
      const provision = await api.request(
        "POST",
        "/v2/domains/shop.v2.test/certificates/provision",
      );
      assert.equal(provision.status, 202);
      assert.deepEqual(await provision.json(), { accepted: true });
      const certificates = await ok(api, "GET", "/v2/domains/shop.v2.test/certificates");
      assert.equal((certificates.provisioning_status as { code: string }).code, "success");
      assert.deepEqual(
        (certificates.certificates as { private_key_algorithm: string }[])
          .map((c) => c.private_key_algorithm).sort(),
        ["ec-p256", "rsa-2048"],
      );
      assert.equal((await api.request("DELETE", "/v2/domains/shop.v2.test")).status, 204);
    },
  );

  await t.step(
    "app variables merge by key; delete removes; reserved names are refused",
    async () => {
      await ok(api, "PATCH", "/v2/apps/paged-4", {
        json: { env_vars: [{ key: "A", value: "1" }, { key: "B", value: "2", secret: true }] },
      });
      const app = await ok(api, "PATCH", "/v2/apps/paged-4", {
        json: { env_vars: [{ key: "A", value: "one" }, { key: "B", delete: true }] },
      });
      const vars = app.env_vars as { key: string; value?: string }[];
      assert.deepEqual(vars.map((v) => [v.key, v.value]), [["A", "one"]]);
      assert.deepEqual(
        await errorOf(
          await api.request("PATCH", "/v2/apps/paged-4", {
            json: { env_vars: [{ key: "DENO_DIR", value: "/x" }] },
          }),
        ),
        { status: 400, code: "INVALID_ENV_VAR" },
      );
      // Every process gets them all in its environment: counts and bytes are bounded.
      const patch = async (json: unknown) =>
        await errorOf(await api.request("PATCH", "/v2/apps/paged-4", { json }));
      const many = Array.from({ length: 501 }, (_, i) => ({ key: `K${i}`, value: "v" }));
      assert.deepEqual(await patch({ env_vars: many }), { status: 400, code: "INVALID_REQUEST" });
      const huge = Array.from(
        { length: 9 },
        (_, i) => ({ key: `BIG${i}`, value: "x".repeat(65_536) }),
      );
      assert.deepEqual(await patch({ env_vars: huge }), { status: 400, code: "INVALID_REQUEST" });
      const labels = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`l${i}`, "x"]));
      assert.deepEqual(await patch({ labels }), { status: 400, code: "INVALID_REQUEST" });
      const after = await ok(api, "GET", "/v2/apps/paged-4");
      assert.deepEqual((after.env_vars as { key: string }[]).map((v) => v.key), ["A"], "kept");
    },
  );
});
