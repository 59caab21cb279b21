/**
 * `invoke` of a deployment that dies halfway through its answer: what came is printed, then an
 * error saying the answer was cut and where to look (exit 1, as for a 5xx), not node's
 * "aborted" with a stack trace.
 */
import assert from "node:assert/strict";
import { deployApp, describe, runCli, startTestHost } from "./helpers/host.ts";

Deno.test("invoke of an answer cut short says so, exit 1, no stack trace", async () => {
  await using host = await startTestHost();
  const { id } = await deployApp(
    host,
    "cut-short",
    `export default {
  fetch() {
    let sent = 0;
    const body = new ReadableStream({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        if (++sent === 3) Deno.exit(1); // the process dies mid-answer
        controller.enqueue(new TextEncoder().encode("part " + sent + "\\n"));
      },
    });
    return new Response(body);
  },
};`,
  );

  const result = await runCli(["invoke", id, "/"], { env: host.env });
  assert.equal(result.code, 1, describe(result));
  assert.equal(result.stdout, "part 1\npart 2\n");
  assert.match(
    result.stderr,
    /^error: The answer from http:\/\/cut-short-\w+\.localhost:\d+\/ was cut/m,
  );
  assert.match(result.stderr, new RegExp(`^hint: .*deploy-tenant logs ${id}`, "m"));
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");

  const json = await runCli(["invoke", id, "/", "--json"], { env: host.env });
  assert.equal(json.code, 1, describe(json));
  assert.equal(JSON.parse(json.stderr).error.code, "invokeCut");
});
