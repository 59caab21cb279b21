/**
 * Validation of API requests: body schemas (zod, strict: unknown fields are errors), project
 * names, list queries, and the deployment rules zod cannot express — asset paths, base64,
 * symlink targets, the entry point, env var names and domains.
 *
 * Every failure is a {@link RequestError} whose message names what was wrong.
 *
 * @module
 */
import { posix } from "node:path";
import { z } from "zod";
import type { CompilerOptions, DeploymentPermissions } from "../../lib/types.ts";
import type { ListQuery } from "../store/store.ts";
import { isUuid } from "../store/ids.ts";
import { MAX_ASSETS } from "../../lib/packer.ts";
import { PROJECT_NAME_RULE, projectNameProblem } from "../../lib/project_name.ts";

/** A request the API refuses: HTTP status and the `{code, message}` error body. */
export class RequestError extends Error {
  /** HTTP status of the answer. */
  readonly status: number;
  /** Machine-readable error code, e.g. `invalidProjectName`. */
  readonly code: string;

  /** Creates a refusal. */
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "RequestError";
    this.status = status;
    this.code = code;
  }
}

function badRequest(code: string, message: string): RequestError {
  return new RequestError(400, code, message);
}

// ---- project names ----

/** Throws `invalidProjectName` unless `name` follows {@link PROJECT_NAME_RULE}. */
export function assertProjectName(name: string): void {
  const problem = projectNameProblem(name);
  if (problem) {
    throw badRequest(
      "invalidProjectName",
      `Invalid project name "${name}": ${problem}. ${PROJECT_NAME_RULE}.`,
    );
  }
}

// ---- request bodies ----

const description = z.string().max(1000, "must be at most 1000 characters").nullish();

/** `POST /organizations/{id}/projects`. */
export const createProjectBody = z.strictObject({ name: z.string().nullish(), description });

/** `PATCH /projects/{id}`: `null` or absent leaves a field unchanged. */
export const updateProjectBody = z.strictObject({ name: z.string().nullish(), description });

const fileAsset = z.strictObject({
  kind: z.literal("file"),
  content: z.string().optional(),
  encoding: z.enum(["utf-8", "base64"]).nullish(),
  gitSha1: z.string().optional(),
});

const symlinkAsset = z.strictObject({ kind: z.literal("symlink"), target: z.string() });

// Values go to `--allow-net`, a comma-separated list: a comma would smuggle in more hosts.
const netEntry = z.string().min(1).max(300).regex(
  /^[^\s,]+$/,
  "must be one host, IP or * without spaces or commas",
).refine((entry) => !/^unix:/i.test(entry), "must be a host or IP, not a unix socket");

const compilerOptions = z.strictObject({
  jsx: z.string().nullish(),
  jsxFactory: z.string().nullish(),
  jsxFragmentFactory: z.string().nullish(),
  jsxImportSource: z.string().nullish(),
  jsxPrecompileSkipElements: z.array(z.string()).nullish(),
  experimentalDecorators: z.boolean().nullish(),
  emitDecoratorMetadata: z.boolean().nullish(),
});

/** `POST /projects/{id}/deployments` (shape only; {@link checkDeployment} does the rest). */
export const createDeploymentBody = z.strictObject({
  entryPointUrl: z.string().min(1),
  assets: z.record(z.string(), z.discriminatedUnion("kind", [fileAsset, symlinkAsset])),
  envVars: z.record(z.string(), z.string()),
  importMapUrl: z.string().nullish(),
  lockFileUrl: z.string().nullish(),
  compilerOptions: compilerOptions.nullish(),
  databases: z.record(z.string(), z.string()).nullish(),
  domains: z.array(z.string()).max(100).nullish(),
  requestTimeout: z.number().int().min(1).max(2 ** 31 - 1).nullish(),
  permissions: z.strictObject({ net: z.array(netEntry).max(1000).nullish() }).nullish(),
  /** Whether its `Deno.cron` jobs run (a later v1 field; off unless asked for). */
  enableCron: z.boolean().nullish(),
  description,
});

/** The parsed body of `POST /projects/{id}/deployments`. */
export type CreateDeploymentBody = z.infer<typeof createDeploymentBody>;

/**
 * `POST /deployments/{id}/redeploy`: every field optional. Maps merge into the original's
 * (`null` deletes a key); `env_vars` is the deprecated spelling of `envVars`.
 */
export const redeployBody = z.strictObject({
  envVars: z.record(z.string(), z.string().nullable()).nullish(),
  env_vars: z.record(z.string(), z.string().nullable()).nullish(),
  databases: z.record(z.string(), z.string().nullable()).nullish(),
  requestTimeout: z.number().int().min(1).max(2 ** 31 - 1).nullish(),
  permissions: z.strictObject({ net: z.array(netEntry).max(1000).nullish() }).nullish(),
  description,
});

/** The parsed body of `POST /deployments/{id}/redeploy`. */
export type RedeployBody = z.infer<typeof redeployBody>;

/** `POST /organizations/{id}/databases`: a `null` description becomes `""`. */
export const createKvDatabaseBody = z.strictObject({ description });

/** `PATCH /databases/{id}`: a `null` description leaves it unchanged. */
export const updateKvDatabaseBody = z.strictObject({ description });

/** Parses `body` with `schema`, or throws a 400 `invalidRequest` naming the bad fields. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  throw badRequest("invalidRequest", formatIssues(result.error.issues));
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  const shown = issues.slice(0, 5).map((issue) => {
    const where = formatPath(issue.path);
    if (issue.code === "unrecognized_keys") {
      const fields = issue.keys.map((key) => `"${key}"`).join(", ");
      const noun = issue.keys.length === 1 ? "field" : "fields";
      return where ? `${where}: unknown ${noun} ${fields}` : `Unknown ${noun} ${fields}`;
    }
    return where ? `${where}: ${issue.message}` : issue.message;
  });
  const more = issues.length > shown.length ? ` (and ${issues.length - shown.length} more)` : "";
  return `Invalid request body: ${shown.join("; ")}${more}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key)) {
      out += out ? `.${key}` : key;
    } else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

// ---- list queries ----

/** Reads `page`, `limit`, `q`, `sort` and `order`; throws `invalidQuery` on bad values. */
export function parseListQuery(
  params: URLSearchParams,
  options: { sorts: readonly string[]; defaultSort: string },
): ListQuery {
  const value = (name: string) => params.get(name) || undefined;
  const integer = (name: string, fallback: number, min: number, max: number) => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      throw badRequest("invalidQuery", `"${name}" must be an integer from ${min} to ${max}`);
    }
    return n;
  };
  const sort = value("sort") ?? options.defaultSort;
  if (!options.sorts.includes(sort)) {
    throw badRequest("invalidQuery", `"sort" must be one of: ${options.sorts.join(", ")}`);
  }
  const order = value("order") ?? "asc";
  if (order !== "asc" && order !== "desc") {
    throw badRequest("invalidQuery", `"order" must be "asc" or "desc"`);
  }
  return {
    page: integer("page", 1, 1, Number.MAX_SAFE_INTEGER),
    limit: integer("limit", 20, 1, 100),
    q: value("q"),
    sort,
    order,
  };
}

// ---- deployments ----

/** A validated asset: a file with its bytes, a file named by hash, or a resolved symlink. */
export type CheckedAsset =
  | { path: string; kind: "file"; bytes: Uint8Array }
  | { path: string; kind: "file"; gitSha1: string }
  | { path: string; kind: "symlink"; target: string };

/** A create-deployment request that passed every check that needs no store. */
export interface CheckedDeployment {
  /** Asset path of the entry point, e.g. `main.ts`. */
  entryPointUrl: string;
  assets: CheckedAsset[];
  envVars: Record<string, string>;
  databases: Record<string, string>;
  importMapUrl: string | null;
  lockFileUrl: string | null;
  compilerOptions: CompilerOptions | null;
  requestTimeout: number | null;
  permissions: DeploymentPermissions | null;
  description: string;
}

// MAX_ASSETS: Deploy documents no count, only 1 GB in total; without a cap, a body of tiny
// assets under the size limit costs the host memory and rows far beyond its bytes. The CLI's
// packer checks the same number before it reads a file.
export { MAX_ASSETS };

const MAX_PATH_BYTES = 4096;
const MAX_SEGMENT_BYTES = 255;
/**
 * How deep an asset path may be nested, in directories. A path of 4 KiB could name 2 000: each
 * asset a chain of directories the build makes on the host's disk, and the tree below walks.
 */
const MAX_PATH_DEPTH = 128;
/**
 * The most directories a deployment's asset paths may imply, in all (as many as it may have
 * assets): each is made on the host's disk at its build, outside the storage quota.
 */
const MAX_DIRECTORIES = MAX_ASSETS;
/**
 * The most bytes a deployment's asset paths and symlink targets may take together. They are
 * kept in host.db (with an index), outside the storage quota, which counts files' bytes: 100 000
 * empty files with 4 KiB paths would add ~850 MiB there per deployment. 16 MiB is 160 bytes a
 * path at the most assets a deployment may have.
 */
const MAX_PATH_BYTES_TOTAL = 16 * 1024 * 1024;
const MAX_SYMLINK_HOPS = 40;
const encoder = new TextEncoder();

/**
 * Checks a parsed create-deployment body: asset paths, contents (base64 strictly),
 * symlink targets, the entry point, import map / lock file paths, env vars and databases.
 * Whether a `gitSha1` is available and which domains are allowed need the store: not here.
 */
export function checkDeployment(body: CreateDeploymentBody): CheckedDeployment {
  const entries = Object.entries(body.assets);
  if (entries.length === 0) {
    throw badRequest("invalidAsset", "A deployment needs at least one asset");
  }
  if (entries.length > MAX_ASSETS) {
    throw badRequest(
      "tooManyAssets",
      `A deployment has at most ${MAX_ASSETS} assets, not ${entries.length}; ` +
        "leave out files the deployment does not need",
    );
  }
  let pathBytes = 0;
  for (const [path, asset] of entries) {
    pathBytes += encoder.encode(path).byteLength +
      (asset.kind === "symlink" ? encoder.encode(asset.target).byteLength : 0);
  }
  if (pathBytes > MAX_PATH_BYTES_TOTAL) {
    throw badRequest(
      "assetPathsTooLarge",
      `A deployment's asset paths (and symlink targets) may take ${MAX_PATH_BYTES_TOTAL} bytes ` +
        `together, not ${pathBytes}; use shorter paths or fewer files`,
    );
  }
  const tree = new AssetTree(entries.map(([path, asset]) => [path, asset.kind]));
  const assets = entries.map(([path, asset]): CheckedAsset => {
    if (asset.kind === "symlink") {
      return { path, kind: "symlink", target: tree.checkSymlink(path, asset.target) };
    }
    return checkFile(path, asset);
  });
  tree.checkChains();

  const entryPointUrl = assetPathOf(body.entryPointUrl);
  if (entryPointUrl === undefined || tree.resolve(entryPointUrl) !== "file") {
    throw badRequest(
      "invalidEntryPoint",
      `The entry point "${body.entryPointUrl}" is not a file among the assets; ` +
        `give an asset path such as "main.ts"`,
    );
  }

  return {
    entryPointUrl,
    assets,
    envVars: checkEnvVarSizes(checkEnvVars(body.envVars)),
    databases: checkDatabases(body.databases ?? {}),
    importMapUrl: checkOptionalFile("importMapUrl", body.importMapUrl, tree),
    lockFileUrl: checkOptionalFile("lockFileUrl", body.lockFileUrl, tree),
    compilerOptions: body.compilerOptions ?? null,
    requestTimeout: body.requestTimeout ?? null,
    permissions: body.permissions ?? null,
    description: body.description ?? "",
  };
}

/** What is wrong with an asset path, or `undefined` when it is a clean relative POSIX path. */
export function assetPathProblem(path: string): string | undefined {
  if (path === "") return "it is empty";
  if (path.includes("\0")) return "it contains a NUL character";
  // A lone surrogate has no UTF-8 form: the file name written to disk would differ.
  if (!path.isWellFormed()) return "it is not valid Unicode (a lone surrogate)";
  if (path.includes("\\")) return "it contains a backslash (use / between directories)";
  if (path.startsWith("/")) return "it is absolute (paths are relative to the deployment root)";
  if (encoder.encode(path).byteLength > MAX_PATH_BYTES) {
    return `it is longer than ${MAX_PATH_BYTES} bytes`;
  }
  const segments = path.split("/");
  if (segments.length - 1 > MAX_PATH_DEPTH) {
    return `it is nested deeper than ${MAX_PATH_DEPTH} directories`;
  }
  for (const segment of segments) {
    if (segment === "") return "it has an empty segment (// or a trailing /)";
    if (segment === "." || segment === "..") return `it has a "${segment}" segment`;
    if (encoder.encode(segment).byteLength > MAX_SEGMENT_BYTES) {
      return `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`;
    }
  }
  return undefined;
}

function invalidAsset(path: string, problem: string): RequestError {
  return badRequest("invalidAsset", `Invalid asset "${path}": ${problem}`);
}

function checkFile(path: string, asset: z.infer<typeof fileAsset>): CheckedAsset {
  if (asset.gitSha1 !== undefined) {
    if (asset.content !== undefined || asset.encoding != null) {
      throw invalidAsset(path, "give either content (with encoding) or gitSha1, not both");
    }
    if (!/^[0-9a-fA-F]{40}$/.test(asset.gitSha1)) {
      throw invalidAsset(path, "gitSha1 must be 40 hexadecimal digits");
    }
    return { path, kind: "file", gitSha1: asset.gitSha1.toLowerCase() };
  }
  if (asset.content === undefined) throw invalidAsset(path, "a file needs content or gitSha1");
  if (asset.encoding === "base64") {
    const bytes = decodeBase64(asset.content);
    if (!bytes) throw invalidAsset(path, "content is not valid (padded, standard) base64");
    return { path, kind: "file", bytes };
  }
  return { path, kind: "file", bytes: encoder.encode(asset.content) };
}

/** Strict standard base64 (RFC 4648 §4, padded, no whitespace), or `undefined`. */
export function decodeBase64(text: string): Uint8Array | undefined {
  // fromBase64 skips ASCII whitespace; we do not accept it.
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  try {
    return Uint8Array.fromBase64(text, { lastChunkHandling: "strict" });
  } catch {
    return undefined;
  }
}

/** The paths of an assets map, with the directories they imply and what kind each is. */
class AssetTree {
  #kinds = new Map<string, "file" | "symlink">();
  #directories = new Set<string>();
  #targets = new Map<string, string>();

  constructor(entries: [string, "file" | "symlink"][]) {
    for (const [path, kind] of entries) {
      const problem = assetPathProblem(path);
      if (problem) throw invalidAsset(path, problem);
      this.#kinds.set(path, kind);
      // Up to the first directory already known (those above it are known too): each one is
      // hashed once, not once per path beneath it.
      for (
        let dir = posix.dirname(path);
        dir !== "." && !this.#directories.has(dir);
        dir = posix.dirname(dir)
      ) {
        this.#directories.add(dir);
        if (this.#directories.size > MAX_DIRECTORIES) {
          throw badRequest(
            "tooManyDirectories",
            `A deployment's assets may lie in at most ${MAX_DIRECTORIES} directories; ` +
              "leave out files the deployment does not need",
          );
        }
      }
    }
    for (const path of this.#kinds.keys()) {
      if (this.#directories.has(path)) {
        throw invalidAsset(path, "it is also a directory of other assets");
      }
    }
  }

  /** Resolves a symlink's target against the link's directory; it must name an asset. */
  checkSymlink(path: string, target: string): string {
    if (
      target === "" || target.includes("\0") || target.includes("\\") || !target.isWellFormed()
    ) {
      throw invalidAsset(
        path,
        "the symlink target is empty, not Unicode, or has a NUL or backslash",
      );
    }
    if (target.startsWith("/")) {
      throw invalidAsset(path, `the symlink target "${target}" must be relative`);
    }
    const resolved = posix.normalize(posix.join(posix.dirname(path), target));
    if (resolved === "." || resolved.startsWith("../") || resolved === "..") {
      throw invalidAsset(path, `the symlink target "${target}" points outside the deployment`);
    }
    this.#targets.set(path, resolved);
    if (!this.#kinds.has(resolved) && !this.#directories.has(resolved)) {
      throw invalidAsset(path, `the symlink target "${target}" is not an asset`);
    }
    return resolved;
  }

  /** What `path` ends up as after following symlinks. Call after every checkSymlink. */
  resolve(path: string): "file" | "directory" | undefined {
    let current = path;
    for (let hop = 0; hop <= MAX_SYMLINK_HOPS; hop++) {
      if (this.#directories.has(current)) return "directory";
      const kind = this.#kinds.get(current);
      if (kind !== "symlink") return kind;
      current = this.#targets.get(current)!;
    }
    throw invalidAsset(path, "the symlink chain loops or is too long");
  }

  /** Checks every symlink chain ends at a file or directory. */
  checkChains(): void {
    for (const path of this.#targets.keys()) this.resolve(path);
  }
}

/**
 * The asset path an entry point / import map / lock file URL names: `main.ts`, `./main.ts`
 * and `file:///src/main.ts` (Deploy mounts assets at `/src`) all give `main.ts`.
 * `undefined` when it is not a local path.
 */
export function assetPathOf(url: string): string | undefined {
  let path = url;
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return undefined;
    }
    if (parsed.protocol !== "file:" || parsed.host !== "") return undefined;
    try {
      path = decodeURIComponent(parsed.pathname);
    } catch {
      return undefined;
    }
    path = path.startsWith("/src/") ? path.slice("/src/".length) : path.replace(/^\/+/, "");
  }
  while (path.startsWith("./")) path = path.slice(2);
  if (path.startsWith("/") || path.includes("\\") || path.includes("\0")) return undefined;
  if (!path.isWellFormed()) return undefined;
  const normalized = posix.normalize(path);
  if (normalized === "." || normalized === ".." || normalized.startsWith("../")) return undefined;
  return normalized;
}

function checkOptionalFile(
  field: string,
  value: string | null | undefined,
  tree: AssetTree,
): string | null {
  // null asks for auto-discovery, "" for none, a remote URL is fetched by the build.
  if (value === null || value === undefined || value === "") return value ?? null;
  if (/^https?:\/\//i.test(value)) return value;
  const path = assetPathOf(value);
  if (path === undefined || tree.resolve(path) !== "file") {
    throw badRequest("invalidRequest", `${field}: "${value}" is not a file among the assets`);
  }
  return path;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED_ENV_PREFIXES = ["DENO_", "LD_"];

/** The longest value of a variable (v2's OpenAPI says 65 536). */
export const MAX_ENV_VALUE_LENGTH = 65_536;

/**
 * Variables of one deployment, app or layer, and their bytes: every process gets them all in its
 * environment, which the kernel caps (about 2 MiB with the arguments).
 */
export const MAX_ENV_VARS = 500;

/** Bytes of keys and values of one deployment's, app's or layer's variables together. */
export const MAX_ENV_BYTES = 512 * 1024;

/**
 * Checks a v1 deployment's whole set of variables against {@link MAX_ENV_VARS},
 * {@link MAX_ENV_VALUE_LENGTH} and {@link MAX_ENV_BYTES} (v2's bounds): v1 had none, and one
 * deployment's 40 MB of variables (which no process could even start with) added 115 MiB to
 * host.db outside every quota. Returns `envVars` unchanged.
 */
export function checkEnvVarSizes(envVars: Record<string, string>): Record<string, string> {
  const entries = Object.entries(envVars);
  if (entries.length > MAX_ENV_VARS) {
    throw badRequest(
      "invalidEnvVar",
      `At most ${MAX_ENV_VARS} environment variables per deployment, not ${entries.length}`,
    );
  }
  let bytes = 0;
  for (const [name, value] of entries) {
    if (value.length > MAX_ENV_VALUE_LENGTH) {
      throw badRequest(
        "invalidEnvVar",
        `Environment variable "${name}" is ${value.length} characters long; at most ` +
          `${MAX_ENV_VALUE_LENGTH}`,
      );
    }
    bytes += name.length + value.length;
  }
  if (bytes > MAX_ENV_BYTES) {
    throw badRequest(
      "invalidEnvVar",
      `The environment variables take ${bytes} bytes; at most ${MAX_ENV_BYTES} per deployment ` +
        "(every process gets them all in its environment)",
    );
  }
  return envVars;
}

/**
 * Checks env var names (letters, digits, `_`; not reserved by the platform) and values (no
 * NUL). Returns `envVars` unchanged; throws `invalidEnvVar` naming the first bad one.
 */
export function checkEnvVars(envVars: Record<string, string>): Record<string, string> {
  for (const [name, value] of Object.entries(envVars)) {
    if (!ENV_NAME.test(name) || name.length > 256) {
      throw badRequest(
        "invalidEnvVar",
        `Invalid environment variable name "${name}": use letters, digits and _, not starting with a digit`,
      );
    }
    const reserved = RESERVED_ENV_PREFIXES.find((prefix) => name.startsWith(prefix));
    if (reserved) {
      throw badRequest(
        "invalidEnvVar",
        `Environment variable "${name}" is reserved: names starting with ${reserved} are set by the platform`,
      );
    }
    if (value.includes("\0")) {
      throw badRequest("invalidEnvVar", `Environment variable "${name}" contains a NUL character`);
    }
  }
  return envVars;
}

/** Checks KV bindings: only the `default` name, bound to a UUID. Returns `databases` unchanged. */
export function checkDatabases(databases: Record<string, string>): Record<string, string> {
  for (const [name, id] of Object.entries(databases)) {
    if (name !== "default") {
      throw badRequest(
        "invalidRequest",
        `databases: "${name}" is not supported; only the "default" database is`,
      );
    }
    if (!isUuid(id)) throw badRequest("invalidRequest", `databases.default: "${id}" is not a UUID`);
  }
  return databases;
}

/** Where a deployment's requested domains are checked: its project, id and the base domain. */
export interface DomainContext {
  projectName: string;
  deploymentId: string;
  baseDomain: string;
  /** The organization's slug: v2's own names `{app}.{slug}.<base>` are allowed too. */
  organizationSlug?: string;
}

/**
 * Resolves the `{project.name}` and `{deployment.id}` placeholders and checks each host
 * name. Under the base domain only the project's own names are allowed
 * (`{project.name}.<base>`, `{project.name}-{deployment.id}.<base>`), so no tenant can
 * claim another's. Returns lowercase names without duplicates.
 */
export function resolveDomains(domains: readonly string[], context: DomainContext): string[] {
  const base = context.baseDomain.toLowerCase();
  const own = new Set([
    `${context.projectName}.${base}`,
    `${context.projectName}-${context.deploymentId}.${base}`,
  ]);
  if (context.organizationSlug) {
    own.add(`${context.projectName}.${context.organizationSlug}.${base}`);
    own.add(`${context.projectName}-${context.deploymentId}.${context.organizationSlug}.${base}`);
  }
  const resolved = new Set<string>();
  for (const requested of domains) {
    const placeholder = requested.match(/\{(?!project\.name\}|deployment\.id\})[^}]*\}/);
    if (placeholder) {
      throw badRequest(
        "invalidDomain",
        `Domain "${requested}": unknown placeholder ${placeholder[0]} ` +
          `(use {project.name} or {deployment.id})`,
      );
    }
    const domain = requested
      .replaceAll("{project.name}", context.projectName)
      .replaceAll("{deployment.id}", context.deploymentId)
      .toLowerCase()
      .replace(/\.$/, "");
    // A wildcard (`*.example.net`) is attachable when that wildcard is registered.
    if (!isHostName(domain.startsWith("*.") ? domain.slice(2) : domain)) {
      throw badRequest("invalidDomain", `Domain "${requested}" is not a valid host name`);
    }
    if ((domain === base || domain.endsWith(`.${base}`)) && !own.has(domain)) {
      throw badRequest(
        "invalidDomain",
        `Domain "${requested}": under ${base} a deployment may only use ` +
          `{project.name}.${base} or {project.name}-{deployment.id}.${base}`,
      );
    }
    resolved.add(domain);
  }
  return [...resolved];
}

/** Whether `name` is a lower-case DNS host name (LDH labels, at most 253 characters). */
export function isHostName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label));
}
