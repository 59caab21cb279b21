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

/** What a module that may start a Node server says: Node's server modules, or an npm package. */
const MAY_SERVE =
  /\bnode:(?:https?|http2|net)\b|(?:\bfrom|\bimport|\brequire)\s*\(?\s*["'](?:https?|http2|net)["']|\bnpm:/;

/** Above this many module files the scan stops: yes. */
const MAX_SCANNED_MODULES = 256;

/**
 * Whether the deployment in `appDir` may listen with Node's server: a module naming `node:http`,
 * `node:https`, `node:http2` or `node:net` (or their bare names), or an npm package (a
 * `package.json`, an `npm:` specifier in a module or config). When unsure, yes.
 */
export function mayServeWithNode(appDir: string): boolean {
  const top = [...Deno.readDirSync(appDir)];
  if (top.some((entry) => PACKAGE_FILES.includes(entry.name))) return true;
  for (const entry of top) {
    if (!CONFIG_FILES.includes(entry.name)) continue;
    try {
      if (/\bnpm:/.test(Deno.readTextFileSync(join(appDir, entry.name)))) return true;
    } catch {
      return true;
    }
  }
  let scanned = 0;
  for (const path of moduleFiles(appDir, top)) {
    if (++scanned > MAX_SCANNED_MODULES) return true;
    try {
      if (MAY_SERVE.test(Deno.readTextFileSync(path))) return true;
    } catch {
      return true;
    }
  }
  return false;
}

function* moduleFiles(dir: string, listed?: Deno.DirEntry[]): Generator<string> {
  for (const entry of listed ?? Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* moduleFiles(path);
    else if (entry.isFile && MODULE_FILE.test(entry.name)) yield path;
  }
}
