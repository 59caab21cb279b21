/**
 * As Deploy's builds do (deploy/reference/builds.md, "Editing app configuration from source
 * code"), the app configuration in a revision's own `deno.json` / `deno.jsonc` (`deploy.runtime`,
 * …) wins over the deploy's and the app's: its entry point is the one that runs.
 */
import assert from "node:assert/strict";
import { ok, startApiHost } from "./helpers/api_host.ts";

const answers = (text: string) => `Deno.serve(() => new Response(${JSON.stringify(text)}));\n`;

Deno.test("a v2 revision's deno.json deploy key is its app configuration", async () => {
  await using api = await startApiHost();
  await ok(api, "POST", "/v2/apps", {
    json: { slug: "from-source", config: { runtime: { type: "dynamic", entrypoint: "main.ts" } } },
  });
  /** Deploys `files`; the text its preview name answers, or the deploy's error. */
  const served = async (files: Record<string, string>): Promise<string> => {
    const response = await api.request("POST", "/v2/apps/from-source/deploy", {
      json: {
        assets: Object.fromEntries(Object.entries(files).map(([p, content]) => [p, { content }])),
        production: false,
      },
    });
    const revision = await response.json();
    if (response.status !== 202) return `${response.status} ${revision.code}: ${revision.message}`;
    for (const deadline = Date.now() + 60_000;;) {
      const now = await ok(api, "GET", `/v2/revisions/${revision.id}`);
      if (now.status === "failed") return `failed: ${JSON.stringify(now.failure_detail)}`;
      if (now.status === "succeeded") break;
      assert.ok(Date.now() < deadline, "still building after 60 s");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const connection = await Deno.connect({ hostname: "127.0.0.1", port: api.host.port });
    await connection.write(new TextEncoder().encode(
      `GET / HTTP/1.1\r\nHost: from-source-${revision.id}.local.localhost\r\nConnection: close\r\n\r\n`,
    ));
    const text = await new Response(connection.readable).text();
    return text.slice(text.indexOf("\r\n\r\n") + 4);
  };
  const config = (runtime: unknown) => JSON.stringify({ deploy: { runtime } });

  assert.equal(
    await served({
      "deno.json": config({ type: "dynamic", entrypoint: "./server.ts" }),
      "server.ts": answers("server.ts"),
      "main.ts": answers("main.ts"),
    }),
    "server.ts",
    "deno.json's entry point wins over the app's",
  );
  assert.equal(
    await served({
      "deno.jsonc":
        `{\n  // the app's settings\n  "deploy": { "runtime": { "entrypoint": "src/app.ts" } },\n}\n`,
      "src/app.ts": answers("src/app.ts"),
    }),
    "src/app.ts",
    "deno.jsonc, with the type left out (dynamic)",
  );
  assert.equal(
    await served({
      "deno.json": JSON.stringify({ imports: {}, deploy: { project: "cli-only-key" } }),
      "main.ts": answers("main.ts"),
    }),
    "main.ts",
    "a deploy key without app configuration leaves the app's",
  );
  assert.match(
    await served({
      "deno.json": config({ type: "static", cwd: "dist" }),
      "main.ts": answers("main.ts"),
    }),
    /^400 INVALID_REQUEST: .*[Ss]tatic/,
  );
});
