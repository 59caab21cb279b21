/**
 * What the host's HAProxy configuration costs per request, counted rather than timed: user-space
 * instructions per request (valgrind's callgrind) of the configuration the host generates
 * (routing by Host, `x-forwarded-*`, the Host without its port, byte counters, silent logging),
 * against HAProxy with no rules, both in front of the same bare hello tenant on a unix socket;
 * and the same at the last of the host's default 256 slots against the first, which must cost
 * the same (per-slot state HAProxy looks up in a list would not).
 *
 * Instruction counts do not drift with the machine's load the way requests/s do, so a change to
 * `host/edge/haproxy_config.ts` shows here to the hundred instructions. Kernel time (the system calls,
 * the same for both) is not counted. Needs `valgrind` and `haproxy`; says it skipped otherwise.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findHaproxy } from "../host/edge/haproxy.ts";
import {
  haproxyConfig,
  messagesMapFile,
  routeValue,
  slotBackend,
} from "../host/edge/haproxy_config.ts";
import { freePort, skipUnlessInstalled, wrk } from "./host.ts";
import { minimalProxyConfig, serveOnUnixSocket } from "./minimal_proxy.ts";
import { report } from "./report.ts";

const HELLO = fileURLToPath(new URL("../examples/hello/main.ts", import.meta.url));
const DOMAIN = "bench-proxy-cost.localhost";
const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 3);
/** The slots the host declares by default (`--max-warm`): a request's cost must not grow with them. */
const SLOTS = 256;

/**
 * Sends commands to HAProxy's admin socket and returns its answer. HAProxy binds its unix
 * sockets before it listens on them, and under valgrind the gap is long: refused, it retries.
 */
async function admin(socket: string, command: string): Promise<string> {
  let conn: Deno.UnixConn | undefined;
  for (let attempt = 0; !conn; attempt++) {
    try {
      conn = await Deno.connect({ transport: "unix", path: socket });
    } catch (error) {
      if (attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  await conn.write(new TextEncoder().encode(command + "\n"));
  return await new Response(conn.readable).text();
}

/** Polls until HAProxy answers on `port` (valgrind starts it slowly). */
async function waitForProxy(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch { /* not yet */ }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("HAProxy under valgrind did not start");
}

/**
 * User-space instructions per request of HAProxy on `config`: counters zeroed after a warm-up,
 * then `seconds` of load, then one dump.
 */
async function instructionsPerRequest(
  haproxy: string,
  dir: string,
  name: string,
  config: string,
  port: number,
  slots?: { adminSocket: string; slot: number },
): Promise<number> {
  const configPath = join(dir, `${name}.cfg`);
  await Deno.writeTextFile(configPath, config);
  const out = join(dir, `${name}.callgrind`);
  const child = new Deno.Command("valgrind", {
    args: ["--tool=callgrind", `--callgrind-out-file=${out}`, haproxy, "-db", "-f", configPath],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitForProxy(port);
    if (slots) {
      // Slots start in maintenance until the host gives them a tenant.
      await admin(slots.adminSocket, `set server ${slotBackend(slots.slot)}/s state ready`);
    }
    const url = `http://127.0.0.1:${port}/`;
    const host = `${DOMAIN}:${port}`;
    const warm = await wrk(url, { host, connections: 8, seconds: 1 });
    if (warm.rps === 0 || warm.non2xx > 0) throw new Error(`${name}: the proxy did not answer`);
    await control("-z", child.pid);
    const run = await wrk(url, { host, connections: 8, seconds });
    await control("-d", child.pid);
    const dump = (await Array.fromAsync(Deno.readDir(dir)))
      .map((entry) => entry.name)
      .filter((file) => file.startsWith(`${name}.callgrind.`))
      .sort()
      .at(-1);
    if (!dump) throw new Error(`${name}: callgrind wrote no dump`);
    const text = await Deno.readTextFile(join(dir, dump));
    const total = Number(text.match(/^(?:summary|totals): (\d+)/m)?.[1] ?? NaN);
    return total / run.requests;
  } finally {
    child.kill();
    await child.status;
  }
}

async function control(flag: string, pid: number): Promise<void> {
  const out = await new Deno.Command("callgrind_control", {
    args: [flag, String(pid)],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

const haproxy = findHaproxy();
skipUnlessInstalled("proxy_cost", ["haproxy", "valgrind", "wrk"]);
if (!haproxy) throw new Error("DEPLOY_TENANT_HAPROXY is set empty: proxy_cost needs HAProxy");

const dir = await Deno.makeTempDir({ prefix: "dt-bench-proxy-cost-" });
const tenantSocket = join(dir, "tenant.sock");
const tenant = serveOnUnixSocket(HELLO, tenantSocket);
try {
  /** HAProxy's instructions per request as the host configures it, routing to `slot`. */
  const asBuiltAt = async (slot: number) => {
    const route = {
      slot,
      backstopMs: 62_000,
      deploymentId: "benchproxycost",
      requestTimeoutMs: 60_000,
    };
    const routesMap = join(dir, "routes.map");
    const verdictsMap = join(dir, "verdicts.map");
    const messagesMap = join(dir, "messages.map");
    await Deno.writeTextFile(routesMap, `${DOMAIN} ${routeValue(route)}\n`);
    await Deno.writeTextFile(verdictsMap, "");
    await Deno.writeTextFile(messagesMap, messagesMapFile());
    const port = freePort();
    const adminSocket = join(dir, "admin.sock");
    const config = haproxyConfig({
      hostname: "127.0.0.1",
      port,
      apiSocket: join(dir, "api.sock"), // never reached: the route is there
      adminSocket,
      warmUpSocket: join(dir, "warm-up.sock"),
      routesMap,
      verdictsMap,
      messagesMap,
      slotSocket: () => tenantSocket,
      slots: SLOTS,
      threads: 1,
      baseDomain: "localhost",
    });
    return await instructionsPerRequest(haproxy, dir, `host${slot}`, config, port, {
      adminSocket,
      slot,
    });
  };
  const first = await asBuiltAt(0);
  const last = await asBuiltAt(SLOTS - 1);
  const minimalPort = freePort();
  const minimal = await instructionsPerRequest(
    haproxy,
    dir,
    "minimal",
    minimalProxyConfig(minimalPort, tenantSocket),
    minimalPort,
  );
  report({
    name: "front proxy work per request (HAProxy user-space instructions, callgrind)",
    value: `${Math.round(first)} as the host configures it`,
    baseline: `${Math.round(minimal)} (HAProxy without rules)`,
    ratio: first / minimal,
    target: "reference",
    met: true,
    reference: true,
  });
  report({
    name: `front proxy work per request to the last of ${SLOTS} slots (the default --max-warm)`,
    value: `${Math.round(last)} at slot ${SLOTS - 1}`,
    baseline: `${Math.round(first)} at slot 0`,
    ratio: last / first,
    target: "flat (≤ 1.05×)",
    met: last / first <= 1.05,
  });
} finally {
  tenant.kill();
  await tenant.status;
  await Deno.remove(dir, { recursive: true });
}
