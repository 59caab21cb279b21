/**
 * The benchmarks' start-up baseline polls a server until it answers: a server that exits first
 * (a wrong module path) must end the wait with an error, not poll forever.
 */
import assert from "node:assert/strict";
import { denoServe, firstOk, freePort } from "../bench/host.ts";

Deno.test("firstOk gives up when the server it waits for exited", async () => {
  const port = freePort();
  const child = denoServe("/nonexistent/main.ts", port);
  await assert.rejects(
    firstOk(`http://127.0.0.1:${port}/`, performance.now(), {}, child),
    /the server exited \(code [1-9]\d*\) before it answered/,
  );
});
