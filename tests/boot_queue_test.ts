/** Tenant boots a few at a time: first come first served, requests before builds' checks. */
import assert from "node:assert/strict";
import { BootQueue } from "../host/tenant/boot_queue.ts";

Deno.test("at most `limit` boots at once, in order, requests before checks", async () => {
  const queue = new BootQueue({ limit: 2 });
  const first = await queue.acquire("check");
  const second = await queue.acquire("serve");
  const order: string[] = [];
  const waiters = [
    queue.acquire("check").then((release) => (order.push("check"), release)),
    queue.acquire("serve").then((release) => (order.push("serve 1"), release)),
    queue.acquire("serve").then((release) => (order.push("serve 2"), release)),
  ];
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(order, [], "no turn while two boot");
  assert.equal(queue.waiting, 3);
  first();
  first(); // giving a turn back twice gives back one
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(order, ["serve 1"]);
  second();
  const releases = await Promise.all(waiters.slice(1));
  assert.deepEqual(order, ["serve 1", "serve 2"]);
  releases[0]();
  await waiters[0];
  assert.deepEqual(order, ["serve 1", "serve 2", "check"]);
});

Deno.test("a boot that never finishes gives its turn back after holdMs", async () => {
  const queue = new BootQueue({ limit: 1, holdMs: 30 });
  await queue.acquire("serve"); // a module whose import never settles: never released
  const started = performance.now();
  const release = await queue.acquire("serve");
  assert.ok(performance.now() - started >= 25, "it waited for the hold to end");
  release();
});
