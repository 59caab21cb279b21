/**
 * A local host for benchmarks: a `deploy-tenant host` subprocess on a free port, on a data
 * dir the caller may reuse (to measure a restart), plus a client for its API.
 *
 * @module
 */
import { hasProgram, installHint } from "../lib/programs.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { V1Api } from "../lib/api.ts";
import { HOST_V8_FLAGS } from "../lib/local_host.ts";
import { deploy } from "../lib/deploy.ts";
import type { Deployment } from "../lib/types.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/** A running benchmark host. */
export interface BenchHost {
  api: V1Api;
  apiUrl: string;
  /** The v2 API root (`…/v2`), served from the same store, when the host announces one. */
  apiV2Url?: string;
  /** The organization's slug, which names it to the v2 API (`X-Deno-Org`). */
  organizationSlug?: string;
  token: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Makes the next host on `dataDir` start with every deployment cold: a restarted host starts
 * the ones warm before it again (host/tenant/warm_set.ts), which a cold start must not meet.
 */
export async function forgetWarmDeployments(dataDir: string): Promise<void> {
  await Deno.remove(join(dataDir, "warm.json")).catch(() => {});
}

/**
 * Starts a host on `dataDir` and waits for its host.json. `BENCH_HOST_ARGS` adds `host` flags
 * to every benchmark's host, space-separated (e.g. `--no-cgroups`, to compare).
 */
export async function startBenchHost(dataDir: string, args: string[] = []): Promise<BenchHost> {
  const extra = (Deno.env.get("BENCH_HOST_ARGS") ?? "").split(" ").filter(Boolean);
  // With the V8 flags of a host the CLI starts.
  const flags = `--v8-flags=${HOST_V8_FLAGS.join(",")}`;
  const hostCommand = ["run", "-A", flags, MAIN, "host", "--port", "0", "--data-dir", dataDir];
  const child = new Deno.Command(Deno.execPath(), {
    args: [...hostCommand, ...args, ...extra],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const infoPath = join(dataDir, "host.json");
  for (let i = 0; i < 600; i++) {
    try {
      const info = JSON.parse(await Deno.readTextFile(infoPath));
      if (info.pid === child.pid) {
        const api = new V1Api({
          baseUrl: info.apiUrl,
          token: info.token,
          organizationId: info.organizationId,
        });
        return {
          api,
          apiUrl: info.apiUrl,
          apiV2Url: info.apiV2Url,
          organizationSlug: info.organizationSlug,
          token: info.token,
          port: info.port,
          pid: child.pid,
          async stop() {
            child.kill("SIGTERM");
            await child.status;
          },
        };
      }
    } catch { /* not ready yet */ }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill("SIGKILL");
  throw new Error("the benchmark host did not start");
}

/**
 * Ends the benchmark `name` here, saying so, unless every one of `programs` is installed: a
 * benchmark that cannot run is skipped, never a crash.
 */
export function skipUnlessInstalled(name: string, programs: string[]): void {
  const missing = programs.filter((program) => !hasProgram(program));
  if (missing.length === 0) return;
  console.log(`${name}: skipped, it needs ${missing.map(installHint).join("; ")}`);
  Deno.exit(0);
}

/** A load test with wrk: requests per second and latency percentiles. */
export async function wrk(
  url: string,
  { host, connections = 32, seconds = 5, rate }: {
    host?: string;
    connections?: number;
    seconds?: number;
    rate?: number;
  } = {},
): Promise<{ rps: number; requests: number; non2xx: number }> {
  const args = ["-t", "1", "-c", String(connections), "-d", `${seconds}s`];
  if (host) args.push("-H", `Host: ${host}`);
  if (rate) throw new Error("fixed-rate load needs wrk2; use a paced client instead");
  args.push(url);
  const out = await new Deno.Command("wrk", { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`wrk failed: ${new TextDecoder().decode(out.stderr)}`);
  const rps = Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? 0);
  const requests = Number(text.match(/(\d+) requests in/)?.[1] ?? 0);
  const non2xx = Number(text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0);
  return { rps, requests, non2xx };
}

/** Starts `deno serve` on a module by hand: the baseline for the router and cold starts. */
export function denoServe(module: string, port: number, env: Record<string, string> = {}) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      "--quiet",
      "--no-prompt",
      "--allow-env",
      `--port=${port}`,
      "--host=127.0.0.1",
      module,
    ],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/**
 * Polls `url` until it answers 200; returns the elapsed ms from `start`. Throws when `server`
 * (the process that should answer) exits first.
 */
export async function firstOk(
  url: string,
  start: number,
  init: RequestInit = {},
  server?: Deno.ChildProcess,
): Promise<number> {
  let exited: Deno.CommandStatus | undefined;
  server?.status.then((status) => exited = status);
  for (;;) {
    // A server that exited (a wrong path, a module that throws) will never answer.
    if (exited) {
      throw new Error(`${url}: the server exited (code ${exited.code}) before it answered`);
    }
    try {
      const response = await fetch(url, init);
      await response.body?.cancel();
      if (response.ok) return performance.now() - start;
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A free loopback TCP port. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Deploys `root` and returns the live deployment and its domain; throws if the build failed. */
export async function deployLive(
  api: V1Api,
  project: string,
  root: string,
): Promise<{ deployment: Deployment; domain: string }> {
  const result = await deploy({ api, project, root });
  const domain = result.deployment.domains?.[0];
  if (result.deployment.status !== "success" || !domain) {
    throw new Error(`deploying ${root} failed: ${result.buildError ?? result.deployment.status}`);
  }
  return { deployment: result.deployment, domain };
}

/** Times `deno serve <module>` by hand from spawn to first 200, `runs` times: the start-up baseline. */
export async function bareStartTimes(module: string, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const port = freePort();
    const start = performance.now();
    const child = denoServe(module, port);
    times.push(await firstOk(`http://127.0.0.1:${port}/`, start, {}, child));
    child.kill();
    await child.status;
  }
  return times;
}
