/**
 * The build's dependency step: a deployment that imports `npm:`, `jsr:` or `https:` modules
 * (or carries a `deno.json`, `package.json` or import map that may map to them) has them
 * fetched into its own cache by a sandboxed `deno cache` whose only way out is the host's
 * egress proxy. The tenant's process then runs `--cached-only`: it never fetches a module
 * itself, so no registry setting, import or redirect it controls can reach a loopback or
 * private address.
 *
 * @module
 */
import { join } from "node:path";
import {
  dependencyFetchCommand,
  type DependencyFetchSpec,
  type Isolation,
} from "../tenant/sandbox.ts";

/** How long fetching a deployment's dependencies may take. */
export const DEPENDENCY_FETCH_TIMEOUT_MS = 5 * 60_000;

/** Files whose presence means Deno may resolve a specifier to a package or URL. */
const CONFIG_FILES = ["deno.json", "deno.jsonc", "package.json", "import_map.json"];

const MODULE_FILE = /\.(?:[cm]?[jt]sx?)$/;

/** An import or export of anything but the app's own files and Node's built-ins. */
const REMOTE_SPECIFIER =
  /(?:\bfrom|\bimport)\s*\(?\s*["'`](?![./]|node:|file:|data:)|\b(?:npm|jsr):[@\w]/;

/** A config that maps to packages or URLs, or a package.json with dependencies. */
const CONFIG_NEEDS =
  /\b(?:npm|jsr):|https?:\/\/|"(?:dev|peer|optional)?[dD]ependencies"\s*:\s*\{\s*"|^$/;

/** Above this many module files the scan stops and the step runs. */
const MAX_SCANNED_MODULES = 256;

/**
 * Whether the deployment in `appDir` may import something that must be fetched: a config
 * naming a package, registry or URL, or a module importing one. When unsure (a file that
 * cannot be read), yes.
 */
export async function needsDependencies(appDir: string): Promise<boolean> {
  for (const name of CONFIG_FILES) {
    const text = await Deno.readTextFile(join(appDir, name)).catch((error) =>
      error instanceof Deno.errors.NotFound ? undefined : ""
    );
    if (text !== undefined && CONFIG_NEEDS.test(text)) return true;
  }
  let scanned = 0;
  for await (const path of moduleFiles(appDir)) {
    if (++scanned > MAX_SCANNED_MODULES) return true;
    const source = await Deno.readTextFile(path).catch(() => undefined);
    if (source === undefined || REMOTE_SPECIFIER.test(source)) return true;
  }
  return false;
}

/** What {@link fetchDependencies} reports. */
export interface FetchResult {
  ok: boolean;
  /** What `deno cache` printed (errors name the module and the proxy's refusal). */
  output: string;
}

/** Runs the sandboxed `deno cache` of {@link dependencyFetchCommand}. */
export async function fetchDependencies(
  spec: DependencyFetchSpec,
  isolation: Isolation,
): Promise<FetchResult> {
  const { command, args, env, cwd } = dependencyFetchCommand(spec, isolation);
  const child = new Deno.Command(command, {
    args,
    env,
    cwd,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, DEPENDENCY_FETCH_TIMEOUT_MS);
  try {
    const { success, stdout, stderr } = await child.output();
    const decoder = new TextDecoder();
    const output = (decoder.decode(stdout) + decoder.decode(stderr)).trim();
    return { ok: success, output };
  } finally {
    clearTimeout(timer);
  }
}

async function* moduleFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* moduleFiles(path);
    else if (entry.isFile && MODULE_FILE.test(entry.name)) yield path;
  }
}
