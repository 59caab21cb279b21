/**
 * A real local host for end-to-end tests: `deno run -A main.ts host --port 0` in a
 * temporary directory, with its output kept for failure messages.
 *
 * @module
 */
import { join } from "node:path";
import { cleanEnv, jsonOf, MAIN_TS, runCliOk } from "./cli.ts";
import type { Deployment } from "../../lib/types.ts";

export { type CliResult, describe, jsonOf, runCli, runCliOk, type RunOptions } from "./cli.ts";

/** A running test host; `await using` stops it as {@link TestHost.stop} does. */
export interface TestHost extends AsyncDisposable {
  /** The API root, e.g. `http://127.0.0.1:41234/v1`. */
  apiUrl: string;
  /** The v2 API root, e.g. `http://127.0.0.1:41234/v2`, when the host serves v2. */
  apiV2Url?: string;
  /** The organization's slug (v2 host names), when the host writes it. */
  organizationSlug?: string;
  /** The API token. */
  token: string;
  /** The host's organization id. */
  organizationId: string;
  /** The port of the API and the deployments. */
  port: number;
  /** The host's data directory. */
  dataDir: string;
  /** The host process's id. */
  pid: number;
  /** A temporary directory for the test's own files, removed by {@link stop}. */
  tempDir: string;
  /** Environment for `runCli` pointing the CLI at this host (and a private upload cache). */
  env: Record<string, string>;
  /** Everything the host printed so far. */
  output(): string;
  /**
   * Stops the host (SIGTERM; pass `"SIGKILL"` to simulate a crash) and removes its
   * directories (a data dir given in the options is kept).
   */
  stop(signal?: Deno.Signal): Promise<void>;
}

/** Options of {@link startTestHost}. */
export interface TestHostOptions {
  /** More arguments for `host`, e.g. `["--unsandboxed"]`. */
  args?: string[];
  /** How long to wait for `host.json`; default 60 s. */
  timeoutMs?: number;
  /**
   * An existing data directory to run on, which {@link TestHost.stop} keeps: stop one host
   * and start another on the same directory to test a restart. Default: a fresh one.
   */
  dataDir?: string;
  /**
   * A command the host runs under, which must `exec` its arguments so the host keeps its
   * pid, e.g. `["sh", "-c", 'ulimit -f 1024; exec "$@"', "sh"]`. Default: none.
   */
  wrapper?: string[];
}

interface HostJson {
  apiUrl: string;
  apiV2Url?: string;
  organizationSlug?: string;
  token: string;
  organizationId: string;
  port: number;
  pid: number;
}

/** Starts a host on a free port in a fresh temporary directory and waits until it is ready. */
export async function startTestHost(options: TestHostOptions = {}): Promise<TestHost> {
  const root = await Deno.makeTempDir({ prefix: "deploy-tenant-test-" });
  const dataDir = options.dataDir ?? join(root, "data");
  const tempDir = join(root, "work");
  await Deno.mkdir(tempDir);
  const args = extraArgs(options.args);
  const hostArgv = [
    Deno.execPath(),
    ...["run", "-A", MAIN_TS, "host", "--port", "0", "--data-dir", dataDir, ...args],
  ];
  const [command, ...commandArgs] = [...options.wrapper ?? [], ...hostArgv];
  const child = new Deno.Command(command, {
    args: commandArgs,
    env: cleanEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const chunks: string[] = [];
  const collecting = Promise.all([collect(child.stdout, chunks), collect(child.stderr, chunks)]);
  const output = () => chunks.join("");

  let exited = false;
  const status = child.status.then((status) => {
    exited = true;
    return status;
  });
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (!exited) {
      try {
        child.kill(signal);
      } catch { /* exited meanwhile */ }
    }
    await status;
    await collecting;
    await Deno.remove(root, { recursive: true }).catch(() => {});
  };

  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let info: HostJson | undefined;
  while (!info) {
    info = await readHostJson(join(dataDir, "host.json"));
    // On a reused data dir, a file left by an earlier host is not this one's.
    if (info?.pid !== child.pid) info = undefined;
    if (info) break;
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(
        `The test host ${exited ? "exited" : "did not become ready"}:\n${output()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  return {
    apiUrl: info.apiUrl,
    apiV2Url: info.apiV2Url,
    organizationSlug: info.organizationSlug,
    token: info.token,
    organizationId: info.organizationId,
    port: info.port,
    dataDir,
    pid: child.pid,
    tempDir,
    env: {
      DEPLOY_API_URL: info.apiUrl,
      DEPLOY_ACCESS_TOKEN: info.token,
      DEPLOY_ORG_ID: info.organizationId,
      XDG_CACHE_HOME: join(root, "cache"),
    },
    output,
    stop,
    [Symbol.asyncDispose]: () => stop(),
  };
}

/**
 * Writes `code` as the `main.ts` of a new directory `name` in the host's
 * {@link TestHost.tempDir} and returns that directory, for `deploy-tenant deploy <dir>`.
 */
export async function writeApp(host: TestHost, name: string, code: string): Promise<string> {
  const dir = join(host.tempDir, name);
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, "main.ts"), code);
  return dir;
}

/**
 * Writes `code` as an app ({@link writeApp}, named after the project) and deploys it with the
 * CLI to a new project `project`, failing with the run's output unless it exits 0. Returns the
 * deployment as `deploy --json` prints it.
 */
export async function deployApp(
  host: TestHost,
  project: string,
  code: string,
): Promise<Deployment & { url: string }> {
  const app = await writeApp(host, project, code);
  const deployed = await runCliOk(["deploy", app, "-p", project, "--create", "--json"], {
    env: host.env,
  });
  return jsonOf(deployed);
}

/** `--unsandboxed` is added when `DEPLOY_TENANT_TEST_UNSANDBOXED=1` (machines without bwrap). */
function extraArgs(args: string[] = []): string[] {
  const unsandboxed = Deno.env.get("DEPLOY_TENANT_TEST_UNSANDBOXED") === "1";
  const extra = unsandboxed && !args.includes("--unsandboxed") ? ["--unsandboxed"] : [];
  // One pooled runtime, as before the pool grew with bursts: test hosts share two cores, and
  // a pool filling behind a test's back would slow the next one (tests/warm_pool_test.ts and
  // tests/pool_sizer_test.ts test the growth).
  if (!args.includes("--warm-pool-memory")) extra.push("--warm-pool-memory", "16m");
  return [...args, ...extra];
}

async function readHostJson(path: string): Promise<HostJson | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined; // not written yet, or being written
  }
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) into.push(decoder.decode(chunk, { stream: true }));
}
