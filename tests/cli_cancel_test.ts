/**
 * Answering "no" at a confirmation is the person's choice, not a failure: one plain line, no
 * red "error:", and exit 1 with nothing changed.
 */
import assert from "node:assert/strict";
import { requires } from "./helpers/programs.ts";
import { KEYS, runInTerminal } from "./helpers/terminal.ts";

Deno.test(requires(["script"], {
  name: "no at a delete prompt prints a plain Cancelled line (exit 1), not an error",
  async fn() {
    // `deployments delete` looks the deployment and its project up (to say when it serves
    // production), then asks: any other request would be the deletion.
    const projectId = "5b484959-cba2-482d-95ab-ba592784af80";
    let requests = 0;
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
      const path = new URL(request.url).pathname;
      const times = { createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z" };
      if (request.method === "GET" && path === "/v1/deployments/abcdefghijkl") {
        return Response.json({
          id: "abcdefghijkl",
          projectId,
          status: "success",
          domains: ["acme-crm-abcdefghijkl.deno.dev", "acme-crm.deno.dev"],
          databases: {},
          ...times,
        });
      }
      if (request.method === "GET" && path === `/v1/projects/${projectId}`) {
        return Response.json({ id: projectId, name: "acme-crm", description: "", ...times });
      }
      requests++;
      return new Response(null, { status: 500 });
    });
    try {
      const run = runInTerminal(["deployments", "delete", "abcdefghijkl"], {
        env: {
          DEPLOY_API_URL: `http://127.0.0.1:${server.addr.port}/v1`,
          DEPLOY_ACCESS_TOKEN: "token",
          DEPLOY_ORG_ID: "00000000-0000-4000-8000-000000000000",
        },
      });
      // (The question wraps at the terminal's 80 columns.)
      await run.waitFor(
        /Delete deployment abcdefghijkl\? It serves production: acme-crm\.deno\.dev stops\s+answering too\.\s+\(y\/N\)/,
      );
      await run.type(KEYS.enter);
      const { code, screen } = await run.finish();
      assert.equal(code, 1, screen);
      assert.match(screen, /^Cancelled: nothing was deleted$/m);
      assert.doesNotMatch(screen, /error:/);
      assert.equal(requests, 0);
    } finally {
      await server.shutdown();
    }
  },
}));
