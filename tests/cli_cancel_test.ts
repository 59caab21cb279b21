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
    // `deployments delete` asks before its first request: an API that answers nothing will do.
    let requests = 0;
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => {
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
      await run.waitFor(/Delete deployment abcdefghijkl\?.*\(y\/N\)/);
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
