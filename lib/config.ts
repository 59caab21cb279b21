/**
 * Where the CLI finds its API and the per-directory `deploy` settings.
 *
 * The API, token and organization come from flags, then the environment
 * (`DEPLOY_API_URL` or `DENO_DEPLOY_ENDPOINT`, `DEPLOY_ACCESS_TOKEN` or `DENO_DEPLOY_TOKEN`,
 * `DEPLOY_ORG_ID` or `DENO_DEPLOY_ORG`), and when no
 * API is configured, from the local host: the one running on the data directory, or one
 * started in the background (unless `DEPLOY_TENANT_AUTOSTART=0`, e.g. in CI). Each of the
 * token and organization is taken from flag, then environment, then the host's `host.json`.
 *
 * The URL chooses the API version (`apiVersionOf`: `/v1` → v1; `/v2`, `/api/v2`, or bare
 * `https://api.deno.com` / `https://console.deno.com` → v2). The local host is v1 unless
 * `--api-version v2` (`DEPLOY_API_VERSION=v2`) asks for its `apiV2Url`. On v2 a `ddo_` token
 * needs no organization; any other token sends it as `X-Deno-Org`.
 *
 * @module
 */
import { basename, join } from "node:path";
import { DeployTenantError, ExitCode } from "./errors.ts";
import {
  findRunningHost,
  type HostInfo,
  hostLogPath,
  startBackgroundHostOnAnyPort,
} from "./local_host.ts";
import { defaultDataDir } from "./paths.ts";
import { isOrganizationToken } from "./v2/client.ts";
import { type ApiVersion, apiVersionOf } from "./v2/urls.ts";

/** Values given on the command line; `undefined` when not given. */
export interface ConfigFlags {
  /** `--api`: the API root, e.g. `https://api.deno.com/v2`. */
  api?: string;
  /** `--token`. */
  token?: string;
  /** `--org`: the organization id (v1), or its slug or id (v2). */
  org?: string;
  /** `--api-version`: `v2` picks the local host's v2 API; a URL's own version wins. */
  apiVersion?: string;
}

/** Where and as whom to talk to the API. */
export interface ApiConfig {
  /** The API root, e.g. `http://127.0.0.1:8000/v1`. */
  apiUrl: string;
  /** The bearer token. */
  token: string;
  /** The organization id (v1), or its slug or id for `X-Deno-Org` (v2; may be empty with a
   * `ddo_` token, which names its organization). */
  organizationId: string;
  /** The API version `apiUrl` speaks (see `apiVersionOf`). */
  apiVersion: ApiVersion;
  /** Where the API came from: flags or environment, or the local host. */
  source: "configured" | "localHost";
  /** The local host used, when `source` is `localHost`. */
  localHost?: { dataDir: string; info: HostInfo; started: boolean; logPath: string };
}

/** Options of {@link resolveApiConfig}. */
export interface ResolveOptions {
  /** The environment; default `Deno.env.toObject()`. */
  env?: Record<string, string | undefined>;
  /**
   * Whether to start a local host when none is running; default `true` unless the
   * environment says `DEPLOY_TENANT_AUTOSTART=0`.
   */
  startHost?: boolean;
  /**
   * Called after a local host was started in the background; `portTaken` is the default port
   * when another program held it and the host took a free one instead.
   */
  onHostStarted?: (info: HostInfo, logPath: string, portTaken?: number) => void;
  /**
   * The local host's API version when neither `--api-version` nor `DEPLOY_API_VERSION` asks
   * for one; default v1. Commands that exist only on v2 (layers) pass `v2`.
   */
  localHostVersion?: ApiVersion;
}

/** The `deploy` key of a directory's `deno.json(c)`. */
export interface DeployConfig {
  /** The project name or id to deploy to. */
  project?: string;
  /** The entry point, relative to the directory. */
  entrypoint?: string;
  /** Globs of files to include. */
  include?: string[];
  /** Globs of files to exclude. */
  exclude?: string[];
  /** A `.env` file, relative to the directory. */
  envFile?: string;
  /** The KV database bound as the default one (v1 `databases.default`). */
  db?: string;
}

/** The local host's data directory: `DEPLOY_TENANT_DATA_DIR`, else {@link defaultDataDir}. */
export function hostDataDir(env: Record<string, string | undefined> = Deno.env.toObject()): string {
  return env.DEPLOY_TENANT_DATA_DIR || defaultDataDir();
}

/**
 * Resolves the API to talk to: flag, then environment, then the local host (started in the
 * background when it is not running).
 *
 * @throws {DeployTenantError} `missingToken` (exit 3) when an API is set without a token;
 *   `missingOrganization` (exit 2) without an organization; `invalidApiUrl` (exit 2);
 *   `hostNotRunning`/`hostStartFailed` (exit 6) when the local host is unavailable.
 */
export async function resolveApiConfig(
  flags: ConfigFlags,
  options: ResolveOptions = {},
): Promise<ApiConfig> {
  const env = options.env ?? Deno.env.toObject();
  const apiUrl = flags.api || env.DEPLOY_API_URL || env.DENO_DEPLOY_ENDPOINT;
  const token = flags.token || env.DEPLOY_ACCESS_TOKEN || env.DENO_DEPLOY_TOKEN;
  const organizationId = flags.org || env.DEPLOY_ORG_ID || env.DENO_DEPLOY_ORG;
  const wanted = wantedVersion(flags.apiVersion ?? env.DEPLOY_API_VERSION);

  if (apiUrl) {
    checkApiUrl(apiUrl);
    const apiVersion = apiVersionOf(apiUrl);
    if (wanted && wanted !== apiVersion) {
      throw new DeployTenantError(
        "apiVersionMismatch",
        `${apiUrl} speaks ${apiVersion}, but ${wanted} was asked for`,
        {
          hint: `Use an API URL ending in /${wanted}, or leave out --api-version ` +
            "(DEPLOY_API_VERSION).",
          exitCode: ExitCode.usage,
        },
      );
    }
    if (!token) {
      throw new DeployTenantError("missingToken", `No access token for ${apiUrl}`, {
        hint: "Pass --token or set DEPLOY_ACCESS_TOKEN (or DENO_DEPLOY_TOKEN).",
        exitCode: ExitCode.auth,
      });
    }
    // A v2 organization token (ddo_…) names its organization; other tokens need X-Deno-Org.
    if (!organizationId && !(apiVersion === "v2" && isOrganizationToken(token))) {
      throw new DeployTenantError("missingOrganization", `No organization for ${apiUrl}`, {
        hint: apiVersion === "v2"
          ? "Pass --org or set DENO_DEPLOY_ORG (the organization's slug), or use an " +
            "organization token (ddo_…)."
          : "Pass --org or set DEPLOY_ORG_ID (the organization's id from its dashboard).",
        exitCode: ExitCode.usage,
      });
    }
    return {
      apiUrl,
      token,
      organizationId: organizationId ?? "",
      apiVersion,
      source: "configured",
    };
  }

  const dataDir = hostDataDir(env);
  let info = await findRunningHost(dataDir);
  let started = false;
  if (!info) {
    if (!(options.startHost ?? env.DEPLOY_TENANT_AUTOSTART !== "0")) {
      throw new DeployTenantError("hostNotRunning", `No local host is running on ${dataDir}`, {
        hint: "Start one with `deploy-tenant host start`, or point the CLI at an API with --api.",
        exitCode: ExitCode.unavailable,
      });
    }
    const start = await startBackgroundHostOnAnyPort({ dataDir });
    info = start.info;
    const portTaken = start.portTaken;
    started = true;
    options.onHostStarted?.(info, hostLogPath(dataDir), portTaken);
  }
  const version = wanted ?? options.localHostVersion ?? "v1";
  if (version === "v2" && !info.apiV2Url) {
    throw new DeployTenantError("v2Unavailable", "The local host does not serve the v2 API", {
      hint: "Restart it with a newer deploy-tenant (`deploy-tenant host stop`), or use v1.",
      exitCode: ExitCode.unavailable,
    });
  }
  const v2 = version === "v2";
  return {
    apiUrl: v2 ? info.apiV2Url! : info.apiUrl,
    token: token ?? info.token,
    organizationId: organizationId ??
      (v2 ? info.organizationSlug ?? info.organizationId : info.organizationId),
    apiVersion: v2 ? "v2" : "v1",
    source: "localHost",
    localHost: { dataDir, info, started, logPath: hostLogPath(dataDir) },
  };
}

/** The keys a `deploy` key may hold (see {@link DeployConfig}). */
const DEPLOY_KEYS = ["project", "entrypoint", "include", "exclude", "envFile", "db"] as const;

/**
 * Keys of Deno Deploy's own `deploy` configuration (deploy/reference/builds.md, and `org`/`app`
 * of `deno deploy`): not this CLI's, but no typo either (`runtime.entrypoint` is read below).
 */
const DENO_DEPLOY_KEYS = ["org", "app", "framework", "install", "build", "predeploy", "runtime"];

/** Options of {@link readDeployConfig}. */
export interface ReadDeployConfigOptions {
  /**
   * Told what is suspicious but not fatal: a key the `deploy` key does not know (a typo of
   * one it does, with a "did you mean").
   */
  onWarning?: (message: string) => void;
}

/**
 * Reads the `deploy` key of `<dir>/deno.json` or `<dir>/deno.jsonc`; `{}` when there is
 * none. Relative paths stay relative to `dir`.
 *
 * @throws {DeployTenantError} `invalidDeployConfig` (exit 2) when the file is not JSON(C) or
 *   the key is malformed.
 */
export async function readDeployConfig(
  dir: string,
  options: ReadDeployConfigOptions = {},
): Promise<DeployConfig> {
  return (await readDeployConfigWithSource(dir, options)).config;
}

/** A `deploy` key as read, and where each of its settings came from. */
export interface DeployConfigSource {
  /** The settings. */
  config: DeployConfig;
  /** The file read, when there was one. */
  path?: string;
  /**
   * The key each setting was read from, e.g. `entrypoint: "deploy.runtime.entrypoint"`, so an
   * error about a setting can name where to fix it.
   */
  keys: Partial<Record<keyof DeployConfig, string>>;
}

/** {@link readDeployConfig}, with the file and the key each setting came from. */
export async function readDeployConfigWithSource(
  dir: string,
  options: ReadDeployConfigOptions = {},
): Promise<DeployConfigSource> {
  for (const name of ["deno.json", "deno.jsonc"]) {
    const path = join(dir, name);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(stripJsonComments(text));
    } catch (error) {
      throw invalidConfig(
        path,
        `not valid JSON: ${(error as Error).message}`,
        `Fix the JSON syntax of ${name}; comments and trailing commas are allowed.`,
      );
    }
    const deploy = (parsed as { deploy?: unknown })?.deploy;
    if (deploy === undefined) return { config: {}, path, keys: {} };
    const config = validateDeployConfig(deploy, path, options.onWarning);
    const keys: DeployConfigSource["keys"] = {};
    for (const key of Object.keys(config) as (keyof DeployConfig)[]) keys[key] = `deploy.${key}`;
    if (config.entrypoint !== undefined && (deploy as DeployConfig).entrypoint === undefined) {
      keys.entrypoint = "deploy.runtime.entrypoint";
    }
    return { config, path, keys };
  }
  return { config: {}, keys: {} };
}

/** Removes `//` and `/* *\/` comments and trailing commas from JSONC, leaving strings alone. */
export function stripJsonComments(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === "\\") i++;
      }
      out += text.slice(start, i + 1);
    } else if (char === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (char === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 1;
      out += " ";
    } else if (char === "}" || char === "]") {
      // Drop a trailing comma before the closing bracket.
      let end = out.length;
      while (end > 0 && /\s/.test(out[end - 1])) end--;
      if (out[end - 1] === ",") out = out.slice(0, end - 1) + out.slice(end);
      out += char;
    } else {
      out += char;
    }
  }
  return out;
}

function validateDeployConfig(
  value: unknown,
  path: string,
  onWarning?: (message: string) => void,
): DeployConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidConfig(path, `"deploy" must be an object`);
  }
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if ((DEPLOY_KEYS as readonly string[]).includes(key) || DENO_DEPLOY_KEYS.includes(key)) {
      continue;
    }
    const near = closest(key, DEPLOY_KEYS);
    onWarning?.(
      `unknown key "${key}" in ${basename(path)} "deploy"` +
        (near ? ` (did you mean "${near}"?)` : ` (known: ${DEPLOY_KEYS.join(", ")})`),
    );
  }
  const config: DeployConfig = {};
  for (const key of ["project", "entrypoint", "envFile", "db"] as const) {
    if (raw[key] === undefined) continue;
    if (typeof raw[key] !== "string") throw invalidConfig(path, `"deploy.${key}" must be a string`);
    config[key] = raw[key];
  }
  // Deno Deploy's own app configuration (deploy/reference/builds.md) names the entry point as
  // deploy.runtime.entrypoint; deploy.entrypoint, this CLI's, wins when both are there.
  const runtime = raw.runtime as { entrypoint?: unknown } | undefined;
  if (config.entrypoint === undefined && typeof runtime?.entrypoint === "string") {
    config.entrypoint = runtime.entrypoint.replace(/^\.\//, "");
  }
  for (const key of ["include", "exclude"] as const) {
    const globs = raw[key];
    if (globs === undefined) continue;
    const list = typeof globs === "string" ? [globs] : globs;
    if (!Array.isArray(list) || !list.every((glob) => typeof glob === "string")) {
      throw invalidConfig(path, `"deploy.${key}" must be a string or a list of strings`);
    }
    config[key] = list;
  }
  return config;
}

function invalidConfig(
  path: string,
  problem: string,
  hint = `Fix the "deploy" key: {${DEPLOY_KEYS.map((key) => `"${key}"`).join(", ")}}.`,
): DeployTenantError {
  return new DeployTenantError("invalidDeployConfig", `${path}: ${problem}`, {
    hint,
    exitCode: ExitCode.usage,
  });
}

/** The one of `candidates` within two edits of `word` (case aside), if there is one. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance <= 2 && distance < (best?.distance ?? Infinity)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j] + 1,
        row[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length];
}

/** `v1`, `v2` or nothing from `--api-version` / `DEPLOY_API_VERSION`. */
function wantedVersion(value: string | undefined): ApiVersion | undefined {
  if (value === undefined || value === "") return undefined;
  const version = value.toLowerCase().replace(/^(\d)$/, "v$1");
  if (version === "v1" || version === "v2") return version;
  throw new DeployTenantError("invalidApiVersion", `Unknown API version "${value}"`, {
    hint: "Use v1 or v2 (--api-version, DEPLOY_API_VERSION).",
    exitCode: ExitCode.usage,
  });
}

function checkApiUrl(apiUrl: string): void {
  let url: URL | undefined;
  try {
    url = new URL(apiUrl);
  } catch { /* reported below */ }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new DeployTenantError("invalidApiUrl", `Invalid API URL "${apiUrl}"`, {
      hint: "Use the API root with its version, e.g. https://api.deno.com/v2.",
      exitCode: ExitCode.usage,
    });
  }
}
