/**
 * The bound of any design that puts a proxy process in front of each tenant: HAProxy with no
 * rules at all, forwarding to a bare `Deno.serve` of the same handler on a unix socket (no
 * sandbox, no bootstrap). Whatever the host adds on top (routing by Host, counters, limits,
 * the sandbox) can only cost more, so this shows how close the host is to what the machine
 * allows for the hop.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findHaproxy } from "../host/edge/haproxy.ts";
import { firstOk, freePort } from "./host.ts";

const UNIX_SERVE = fileURLToPath(new URL("./fixtures/unix_serve.ts", import.meta.url));

/** A running minimal proxy and its tenant. */
export interface MinimalProxy {
  url: string;
  stop(): Promise<void>;
}

/** HAProxy's configuration with no rules at all: every request on `port` goes to `socket`. */
export function minimalProxyConfig(port: number, socket: string): string {
  return minimalProxiesConfig([{ port, socket }]);
}

/**
 * HAProxy's configuration with no rules at all for several tenants: each has a port of its own
 * (a frontend per tenant, so that not even a routing rule is needed).
 */
export function minimalProxiesConfig(routes: { port: number; socket: string }[]): string {
  return [
    "global",
    "  nbthread 1",
    "defaults",
    "  mode http",
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  http-reuse always",
    ...routes.flatMap(({ port, socket }, i) => [
      `frontend public${i}`,
      `  bind 127.0.0.1:${port}`,
      `  default_backend tenant${i}`,
      `backend tenant${i}`,
      `  server s unix@${socket}`,
    ]),
    "",
  ].join("\n");
}

/** Starts HAProxy (no rules) in front of `module` served on a unix socket. */
export async function startMinimalProxy(module: string): Promise<MinimalProxy> {
  const { urls, stop } = await startMinimalProxies(module, 1);
  return { url: urls[0], stop };
}

/** Several bare tenants behind one rule-less HAProxy, each on a port of its own. */
export interface MinimalProxies {
  /** Each tenant's URL, through HAProxy. */
  urls: string[];
  stop(): Promise<void>;
}

/**
 * Starts `count` bare processes serving `module` on unix sockets and HAProxy (no rules) in
 * front of them, each on a port of its own. Each has answered one request through HAProxy
 * when this returns, and HAProxy keeps that connection to it (as the host's warm-up does).
 */
export async function startMinimalProxies(module: string, count: number): Promise<MinimalProxies> {
  const haproxy = findHaproxy();
  if (!haproxy) throw new Error("the proxy bound needs HAProxy installed");
  const dir = await Deno.makeTempDir({ prefix: "dt-bench-minimal-proxy-" });
  const routes = Array.from({ length: count }, (_, i) => ({
    port: freePort(),
    socket: join(dir, `http${i}.sock`),
  }));
  await Deno.writeTextFile(join(dir, "haproxy.cfg"), minimalProxiesConfig(routes));

  const tenants = routes.map(({ socket }) => serveOnUnixSocket(module, socket));
  const proxy = new Deno.Command(haproxy, {
    args: ["-db", "-f", join(dir, "haproxy.cfg")],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const urls = routes.map(({ port }) => `http://127.0.0.1:${port}/`);
  for (const url of urls) await firstOk(url, performance.now());
  return {
    urls,
    async stop() {
      for (const child of [proxy, ...tenants]) {
        child.kill();
        await child.status;
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** `module`'s `export default { fetch }` served on the unix socket `socket`, bare. */
export function serveOnUnixSocket(module: string, socket: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", UNIX_SERVE, module, socket],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}
