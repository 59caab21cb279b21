/**
 * A process started on its own (not from the warm pool) may listen on its socket before the
 * bootstrap does, and then answers the host's warm-ups itself (docs/isolation.md's known limits).
 * The host waited for that answer without a deadline: a deployment that never answered, or
 * answered without end, stayed `pending` for good, its build's process alive beside the host's
 * limits on warm processes, and a token holder could pile up as many as it may deploy.
 * A warm-up now gives up at its time limit, head and body alike.
 */
import assert from "node:assert/strict";
import { ok, startApiHost } from "./helpers/api_host.ts";

/** Listens on its own socket before the bootstrap could, then answers `answer`'s way. */
function rawServer(answer: "silent" | "endless"): string {
  return `if (import.meta.main) { /* not a pooled runtime: this process starts on its own */ }
const listener = Deno.listen({ transport: "unix", path: "/run/deployment/http.sock" });
const chunk = new Uint8Array(65536);
for await (const connection of listener) {
  (async () => {
    await connection.read(new Uint8Array(65536));
    if (${JSON.stringify(answer)} === "silent") return;
    await connection.write(new TextEncoder().encode("HTTP/1.1 200 OK\\r\\ncontent-length: 1099511627776\\r\\n\\r\\n"));
    for (;;) await connection.write(chunk);
  })().catch(() => {});
}
`;
}

Deno.test({
  name:
    "a deployment that answers the host's warm-up with silence or without end does not stay pending",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using api = await startApiHost();
    for (const answer of ["silent", "endless"] as const) {
      const project = await ok(
        api,
        "POST",
        `/v1/organizations/${api.host.organizationId}/projects`,
        { json: { name: `raw-${answer}` } },
      );
      const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
        json: {
          entryPointUrl: "main.ts",
          envVars: {},
          assets: { "main.ts": { kind: "file", content: rawServer(answer) } },
        },
      });
      const deadline = Date.now() + 30_000;
      let status = "pending";
      while (status === "pending" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        status = String((await ok(api, "GET", `/v1/deployments/${deployment.id}`)).status);
      }
      assert.notEqual(status, "pending", `${answer}: the build still waits after 30 s`);
    }
  },
});
