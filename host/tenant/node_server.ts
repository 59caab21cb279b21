/**
 * Whether a deployment may serve with Node's HTTP server (`http.createServer(app).listen(8000)`,
 * as Express, Koa or a framework's Node adapter do), which Deno Deploy routes requests to like a
 * `Deno.serve` handler. The bootstrap then makes such a listen serve on the host's unix socket;
 * it has to load Node's `net` module for that before the deployment's code runs, which costs a
 * process that never uses Node's modules ~20–50 ms of its start, so it does so only for
 * deployments this says yes to.
 *
 * @module
 */
import { join } from "node:path";

/** Files whose presence means npm packages, which may start a Node server of their own. */
const PACKAGE_FILES = ["package.json"];

/** A config that maps to npm packages. */
const CONFIG_FILES = ["deno.json", "deno.jsonc", "import_map.json"];

const MODULE_FILE = /\.(?:[cm]?[jt]sx?)$/;

/** A module naming Node's server modules: `node:http`, `"https"` in an import or a require. */
const NODE_SERVER =
  /\bnode:(?:https?|http2|net)\b|(?:\bfrom|\bimport|\brequire)\s*\(?\s*["'](?:https?|http2|net)["']/;

const NPM = /\bnpm:/;

/** Above this many of the app's module files the scan stops: yes. */
const MAX_SCANNED_MODULES = 256;

/** Above this many bytes of npm packages' sources the scan stops: yes. */
const MAX_SCANNED_PACKAGE_BYTES = 64 * 1024 * 1024;

/**
 * Whether the deployment in `appDir` may listen with Node's server: one of its modules names
 * `node:http`, `node:https`, `node:http2` or `node:net` (or their bare names), or it uses npm
 * packages (a `package.json`, an `npm:` specifier in a module or config) and one of those in
 * `cacheDir` (where the build fetched them) does. When unsure, yes.
 */
export function mayServeWithNode(appDir: string, cacheDir?: string): boolean {
  const top = [...Deno.readDirSync(appDir)];
  let usesNpm = top.some((entry) => PACKAGE_FILES.includes(entry.name));
  for (const entry of top) {
    if (usesNpm || !CONFIG_FILES.includes(entry.name)) continue;
    try {
      usesNpm = NPM.test(Deno.readTextFileSync(join(appDir, entry.name)));
    } catch {
      return true;
    }
  }
  let scanned = 0;
  for (const path of moduleFiles(appDir, top)) {
    if (++scanned > MAX_SCANNED_MODULES) return true;
    try {
      const source = Deno.readTextFileSync(path);
      if (NODE_SERVER.test(source)) return true;
      usesNpm ||= NPM.test(source);
    } catch {
      return true;
    }
  }
  if (!usesNpm) return false;
  return cacheDir === undefined || packagesMayServe(join(cacheDir, "npm"));
}

/**
 * Whether an npm package under `npmDir` (Deno's npm cache) names Node's server modules, as
 * Express, Koa or a Node adapter do (most packages, zod or hono among them, do not). Packages
 * not in that cache (none fetched, or too many to read) may: yes.
 */
function packagesMayServe(npmDir: string): boolean {
  let bytes = 0;
  try {
    for (const path of moduleFiles(npmDir)) {
      const source = Deno.readTextFileSync(path);
      bytes += source.length;
      if (bytes > MAX_SCANNED_PACKAGE_BYTES || NODE_SERVER.test(source)) return true;
    }
  } catch {
    return true;
  }
  return bytes === 0;
}

function* moduleFiles(dir: string, listed?: Deno.DirEntry[]): Generator<string> {
  for (const entry of listed ?? Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* moduleFiles(path);
    else if (entry.isFile && MODULE_FILE.test(entry.name)) yield path;
  }
}
