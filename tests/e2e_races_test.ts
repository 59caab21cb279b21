/**
 * No change lost, none stuck, through the CLI against a real host: of two `deploy --prod` at
 * once the newer deployment ends in production and the older one says so (exit 5); two
 * `env set --prod` at once both land in production; a `deploy` waiting on a build outlives
 * a host restart.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cleanEnv, MAIN_TS } from "./helpers/cli.ts";
import {
  type CliResult,
  describe,
  jsonOf,
  runCli,
  startTestHost,
  type TestHost,
} from "./helpers/host.ts";
import { invoke } from "../lib/invoke.ts";
import type { Deployment } from "../lib/types.ts";

type Deployed = Deployment & { url: string; productionHeldBy?: string };

/** An app whose build (and every cold start) takes `ms`, then answers `text`. */
const SLOW = (text: string, ms: number) =>
  `await new Promise((resolve) => setTimeout(resolve, ${ms}));
Deno.serve(() => new Response(${JSON.stringify(text)}));
`;

/** Answers the variables named in the path, after a slow start: `/A,B` → `{"A": …, "B": …}`. */
const SLOW_ENV_APP = `
await new Promise((resolve) => setTimeout(resolve, 2_500));
Deno.serve((request) => {
  const names = decodeURIComponent(new URL(request.url).pathname.slice(1)).split(",");
  return Response.json(Object.fromEntries(names.map((name) => [name, Deno.env.get(name) ?? null])));
});
`;

/** A CLI run in the background whose stderr can be waited on while it runs. */
interface RunningCli {
  /** Resolves with the first stderr line matching `pattern`'s first group, or the line. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** The exit code and output once it ends. */
  result: Promise<CliResult>;
}

function startCli(args: string[], env: Record<string, string>): RunningCli {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN_TS, ...args],
    env: { ...cleanEnv(), DEPLOY_TENANT_AUTOSTART: "0", NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const listeners = new Set<() => void>();
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
      for (const listener of listeners) listener();
    }
  })();
  const stdout = new Response(child.stdout).bytes();
  const result = (async () => {
    const { code } = await child.status;
    await reading;
    const stdoutBytes = await stdout;
    return { code, stdout: new TextDecoder().decode(stdoutBytes), stdoutBytes, stderr };
  })();
  return {
    result,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stderr);
          if (!match) return false;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(match[1] ?? match[0]);
          return true;
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no ${pattern} on stderr in ${timeoutMs} ms:\n${stderr}`));
        }, timeoutMs);
        listeners.add(check);
        check();
        result.then(() => {
          if (!check()) {
            clearTimeout(timer);
            reject(new Error(`the CLI ended without ${pattern} on stderr:\n${stderr}`));
          }
        });
      });
    },
  };
}

const CREATED = /Created deployment (\w+)/;

async function appDir(root: string, name: string, main: string): Promise<string> {
  const dir = join(root, name);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "main.ts"), main);
  return dir;
}

async function get(url: string, path = "/"): Promise<string> {
  const response = await invoke(new URL(path, url));
  assert.equal(response.status, 200, url);
  return await response.text();
}

Deno.test("of two deploy --prod at once the newer ends in production; the older exits 5", async () => {
  await using host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  assert.equal((await cli("project", "create", "race-cli")).code, 0);
  const older = await appDir(host.tempDir, "older", SLOW("older", 6_000));
  const newer = await appDir(host.tempDir, "newer", SLOW("newer", 0));

  // The older one is created first and builds slower: its build ends last.
  const first = startCli(["deploy", older, "-p", "race-cli", "--prod", "--json"], host.env);
  let olderId: string | undefined;
  while (olderId === undefined) {
    const list = await cli("deployments", "list", "race-cli", "--json");
    olderId = jsonOf<Deployment[]>(list)[0]?.id;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const second = await cli("deploy", newer, "-p", "race-cli", "--prod", "--json");
  assert.equal(second.code, 0, describe(second));
  const newerId = jsonOf<Deployed>(second).id;

  const late = await first.result;
  assert.equal(late.code, 5, describe(late));
  const document = JSON.parse(late.stdout) as Deployed;
  assert.equal(document.id, olderId);
  assert.equal(document.status, "success");
  assert.equal(document.productionHeldBy, newerId);
  assert.ok(!document.domains?.includes("race-cli.localhost"), String(document.domains));
  const error = JSON.parse(late.stderr.trim().split("\n").at(-1)!).error;
  assert.equal(error.code, "newerDeploymentHoldsDomain");
  assert.match(
    error.message,
    new RegExp(`production \\(race-cli\\.localhost\\) stays with deployment ${newerId}`),
  );
  assert.ok(error.message.includes(document.url), error.message);

  const holder = jsonOf<Deployed>(await cli("deployments", "show", newerId, "--json"));
  assert.ok(holder.domains?.includes("race-cli.localhost"), String(holder.domains));
  assert.equal(await get(`http://race-cli.localhost:${host.port}/`), "newer");
  assert.equal(await get(document.url), "older", "the older one keeps its own URL");

  const later = await cli("deploy", older, "-p", "race-cli", "--prod");
  assert.equal(later.code, 0, `a deploy created later still takes it: ${describe(later)}`);
  const rollback = await cli("deployments", "promote", olderId);
  assert.equal(rollback.code, 0, `an explicit promote rolls back: ${describe(rollback)}`);
  assert.equal(await get(`http://race-cli.localhost:${host.port}/`), "older");
});

Deno.test("two env set --prod at once both land in production", async () => {
  await using host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  const app = await appDir(host.tempDir, "env-app", SLOW_ENV_APP);
  assert.equal((await cli("project", "create", "env-race")).code, 0);
  const base = jsonOf<Deployed>(
    await cli("deploy", app, "-p", "env-race", "--env", "BASE=1", "--prod", "--json"),
  );
  assert.equal(base.status, "success");

  const [x, y] = await Promise.all([
    cli("env", "set", base.id, "X=ex", "--prod"),
    cli("env", "set", base.id, "Y=why", "--prod"),
  ]);
  assert.equal(x.code, 0, describe(x));
  assert.equal(y.code, 0, describe(y));
  const production = `http://env-race.localhost:${host.port}/`;
  assert.deepEqual(JSON.parse(await get(production, "/BASE,X,Y")), {
    BASE: "1",
    X: "ex",
    Y: "why",
  });
  const notes = [x, y].filter((run) =>
    /Production changed meanwhile; merging onto \w+/.test(run.stderr)
  );
  assert.equal(notes.length, 1, `one of them redid its change:\n${describe(x)}\n${describe(y)}`);

  // Named a deployment that is not production: the change goes onto production, said so.
  const staged = jsonOf<Deployed>(await cli("env", "set", base.id, "Z=zed", "--json"));
  const onto = await cli("env", "set", staged.id, "W=dub", "--prod");
  assert.equal(onto.code, 0, describe(onto));
  assert.match(
    onto.stderr,
    new RegExp(`Production is served by deployment \\w+, not ${staged.id}`),
  );
  assert.deepEqual(JSON.parse(await get(production, "/X,Y,Z,W")), {
    X: "ex",
    Y: "why",
    Z: null,
    W: "dub",
  });
});

Deno.test({
  name: "deploy waiting on a build outlives a host restart",
  // The host's subprocess outlives single steps on purpose.
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "deploy-tenant-restart-" });
  const dataDir = join(root, "data");
  let host: TestHost | undefined = await startTestHost({ dataDir });
  try {
    const { port, env } = host;
    const app = await appDir(root, "slow", SLOW("survived", 4_000));
    const cache = { XDG_CACHE_HOME: join(root, "cache") };
    assert.equal((await runCli(["project", "create", "restart"], { env })).code, 0);
    const deploying = startCli(["deploy", app, "-p", "restart", "--prod"], { ...env, ...cache });
    const id = await deploying.waitFor(CREATED);

    // Down for longer than the HTTP client's own retries (about 3.5 s), then back on its port.
    await host.stop("SIGKILL");
    host = undefined;
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    host = await startTestHost({ dataDir, args: ["--port", String(port)] });
    assert.equal(host.port, port);

    const result = await deploying.result;
    assert.equal(result.code, 0, describe(result));
    assert.match(result.stdout, new RegExp(`^Deployed ${id} to project restart$`, "m"));
    assert.match(result.stderr, /The API does not answer .*still waiting for the build/);
    assert.equal(await get(`http://restart.localhost:${port}/`), "survived");
  } finally {
    await host?.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
