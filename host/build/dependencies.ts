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
  withFileSizeLimit,
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
  /** Set when the fetch was stopped because the cache passed its size limit. */
  tooLarge?: boolean;
}

/** How often the size of a cache being fetched into is measured. */
const SIZE_CHECK_MS = 500;

/** The least a file or directory is counted as: one block (so empty files count too). */
const BLOCK_BYTES = 4096;

/**
 * Runs the sandboxed `deno cache` of {@link dependencyFetchCommand}. With `maxBytes`, the fetch
 * may not grow the cache past it: the kernel holds each file to it (`RLIMIT_FSIZE`), and the
 * cache is measured while the fetch runs (what a download unpacks to, npm tarballs and
 * compressed responses, is what the disk holds: counting bytes at the proxy would not see it);
 * past it the fetch is killed and the result says `tooLarge`.
 */
export async function fetchDependencies(
  spec: DependencyFetchSpec,
  isolation: Isolation,
  maxBytes?: number,
): Promise<FetchResult> {
  const started = dependencyFetchCommand(spec, isolation);
  const { command, args, env, cwd } = maxBytes === undefined
    ? started
    : withFileSizeLimit(started, maxBytes);
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
  let tooLarge = false;
  const overLimit = async () =>
    maxBytes !== undefined && await cacheBytes(spec.cacheDir, maxBytes) > maxBytes;
  const output = child.output();
  let done = false;
  const watch = (async () => {
    // One measure at a time, each after the previous one ended.
    while (!done && maxBytes !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, SIZE_CHECK_MS));
      if (!done && await overLimit()) {
        tooLarge = true;
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
        return;
      }
    }
  })();
  try {
    const { success, stdout, stderr } = await output;
    done = true;
    await watch;
    // What came after the last measure.
    if (!tooLarge && await overLimit()) tooLarge = true;
    if (tooLarge) {
      return {
        ok: false,
        tooLarge,
        output: `The dependencies passed the limit of ${mib(maxBytes!)} MiB a build may download ` +
          "into the deployment's cache (the host's --quota dependencies): fetching stopped",
      };
    }
    const decoder = new TextDecoder();
    return { ok: success, output: (decoder.decode(stdout) + decoder.decode(stderr)).trim() };
  } finally {
    done = true;
    clearTimeout(timer);
  }
}

/**
 * The bytes under `dir`, each file and directory counted as at least a block; stops counting
 * once past `stopAt` (the walk then costs no more than the limit allows files).
 */
export async function cacheBytes(dir: string, stopAt = Infinity): Promise<number> {
  let total = 0;
  const walk = async (path: string): Promise<void> => {
    let entries;
    try {
      entries = await Array.fromAsync(Deno.readDir(path));
    } catch {
      return; // gone meanwhile, or not made yet
    }
    for (const entry of entries) {
      if (total > stopAt) return;
      const child = join(path, entry.name);
      const size = entry.isFile ? await Deno.lstat(child).then((info) => info.size, () => 0) : 0;
      total += Math.max(size, BLOCK_BYTES);
      if (entry.isDirectory) await walk(child);
    }
  };
  await walk(dir);
  return total;
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}

async function* moduleFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* moduleFiles(path);
    else if (entry.isFile && MODULE_FILE.test(entry.name)) yield path;
  }
}
