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
  return [
    "global",
    "  nbthread 1",
    "defaults",
    "  mode http",
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  http-reuse always",
    "frontend public",
    `  bind 127.0.0.1:${port}`,
    "  default_backend tenant",
    "backend tenant",
    `  server s unix@${socket}`,
    "",
  ].join("\n");
}

/** Starts HAProxy (no rules) in front of `module` served on a unix socket. */
export async function startMinimalProxy(module: string): Promise<MinimalProxy> {
  const haproxy = findHaproxy();
  if (!haproxy) throw new Error("the proxy bound needs HAProxy installed");
  const dir = await Deno.makeTempDir({ prefix: "dt-bench-minimal-proxy-" });
  const socket = join(dir, "http.sock");
  const port = freePort();
  await Deno.writeTextFile(join(dir, "haproxy.cfg"), minimalProxyConfig(port, socket));

  const tenant = serveOnUnixSocket(module, socket);
  const proxy = new Deno.Command(haproxy, {
    args: ["-db", "-f", join(dir, "haproxy.cfg")],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}/`;
  await firstOk(url, performance.now());
  return {
    url,
    async stop() {
      for (const child of [proxy, tenant]) {
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
