/**
 * A deployment's fetch of itself is Deploy's `508 LOOP_DETECTED`, at once: a handler that
 * fetches its own URL (a proxy fetching `request.url`, a page fetching its own path) called itself
 * without end here, each call holding a connection and burning the tenant's CPU long after its
 * caller had gone. Another deployment, of its project or another, is fetched as usual; a loop
 * through two deployments ends at the host's cap on nested fetches.
 */
import assert from "node:assert/strict";
import { deployModule, startApiHost } from "./helpers/api_host.ts";
import { rawGetJson } from "./helpers/raw_http.ts";
import { MAX_FETCH_DEPTH } from "../host/edge/self_fetch.ts";

/** Counts the requests it serves; any other path fetches the URL it was asked for, again. */
const LOOP = `let served = 0;
Deno.serve(async (request) => {
  const url = new URL(request.url);
  if (url.pathname === "/count") return Response.json(served);
  if (url.pathname === "/exit") setTimeout(() => Deno.exit(0), 20);
  served++;
  const target = url.searchParams.get("target") ?? request.url;
  try {
    const response = await fetch(target);
    return Response.json({ status: response.status, body: await response.json() });
  } catch (error) {
    return Response.json({ error: String(error) });
  }
});
`;

Deno.test({
  name: "a deployment's fetch of itself is 508 LOOP_DETECTED at once; another deployment's is not",
  async fn() {
    await using api = await startApiHost();
    const loop = await deployModule(api, "loop", LOOP);
    const seen = await rawGetJson<Record<string, unknown>>(api.host.port, loop.host, "/");
    assert.deepEqual(seen, {
      status: 508,
      body: {
        code: "LOOP_DETECTED",
        message: "Recursive requests to the same deployment cannot be processed.",
      },
    });
    // One request served, the client's: the loop never started.
    assert.equal(await rawGetJson(api.host.port, loop.host, "/count"), 1);

    // Another deployment running the same code fetches the first one's URL as any client does;
    // the first, fetching itself from there, is refused again.
    const other = await deployModule(api, "loop-caller", LOOP);
    const target = `http://${loop.host}/`;
    const chained = await rawGetJson<Record<string, unknown>>(
      api.host.port,
      other.host,
      `/?target=${encodeURIComponent(target)}`,
    );
    assert.deepEqual(chained, {
      status: 200,
      body: {
        status: 508,
        body: {
          code: "LOOP_DETECTED",
          message: "Recursive requests to the same deployment cannot be processed.",
        },
      },
    });
    assert.equal(await rawGetJson(api.host.port, loop.host, "/count"), 2);

    // A process the warm pool handed the deployment to is known as the deployment's too.
    await rawGetJson(api.host.port, loop.host, "/exit?target=http://nowhere.invalid/");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const again = await rawGetJson<Record<string, unknown>>(api.host.port, loop.host, "/");
    assert.equal(again.status, 508, JSON.stringify(again));
    assert.equal(await rawGetJson(api.host.port, loop.host, "/count"), 1);
  },
});

/** Calls `next` with `next` and `after` swapped: two deployments calling each other. */
const PING_PONG = `let served = 0;
Deno.serve(async (request) => {
  const url = new URL(request.url);
  if (url.pathname === "/count") return Response.json(served);
  served++;
  const next = url.searchParams.get("next");
  const after = url.searchParams.get("after");
  const target = next + "?next=" + encodeURIComponent(after) + "&after=" + encodeURIComponent(next);
  // A POST with a body, so that a request's body travels through the chain too.
  const response = await fetch(target, { method: "POST", body: "lead" });
  return Response.json({ status: response.status, body: await response.json() });
});
`;

Deno.test("a loop through two deployments ends at the host's cap on nested fetches", async () => {
  await using api = await startApiHost();
  const ping = await deployModule(api, "ping", PING_PONG);
  const pong = await deployModule(api, "pong", PING_PONG);
  const [pingUrl, pongUrl] = [ping, pong].map(({ host }) => `http://${host}/`);
  let answer = await rawGetJson<{ status: number; body: unknown }>(
    api.host.port,
    ping.host,
    `/?next=${encodeURIComponent(pongUrl)}&after=${encodeURIComponent(pingUrl)}`,
  );
  let depth = 0;
  while (answer.status === 200) {
    answer = answer.body as typeof answer;
    depth++;
  }
  assert.equal(answer.status, 508, JSON.stringify(answer));
  assert.equal((answer.body as { code: string }).code, "LOOP_DETECTED");
  // The first request of each process is not counted (it turns the count on): a hop or two more.
  assert.ok(depth >= MAX_FETCH_DEPTH && depth <= MAX_FETCH_DEPTH + 2, `${depth} deep`);
  const served = Number(await rawGetJson(api.host.port, ping.host, "/count")) +
    Number(await rawGetJson(api.host.port, pong.host, "/count"));
  assert.equal(served, depth + 1);
});
