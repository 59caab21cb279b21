/**
 * Which API version a URL speaks, and the v2 API root for the URLs people type.
 *
 * Deno Deploy serves v2 at `https://api.deno.com/v2`; the official SDK calls the same routes
 * as `https://console.deno.com/api/v2` and its users configure only `https://console.deno.com`
 * (`DENO_DEPLOY_ENDPOINT`). Both forms are accepted.
 *
 * @module
 */

/** The API versions the client speaks. */
export type ApiVersion = "v1" | "v2";

const CONSOLE_ORIGIN = "https://console.deno.com";
const API_ORIGIN = "https://api.deno.com";

/**
 * The version `url` speaks: a path ending in `/v1` → v1; in `/v2` (so also `/api/v2`) → v2;
 * `https://api.deno.com` or `https://console.deno.com` with no path → v2 (v1 is shut down
 * there); anything else → v1, the local host's default. Never throws.
 *
 * @example
 * ```ts
 * apiVersionOf("https://console.deno.com"); // → "v2"
 * apiVersionOf("http://127.0.0.1:8000/v1"); // → "v1"
 * ```
 */
export function apiVersionOf(url: string): ApiVersion {
  const parsed = parse(url);
  if (parsed === undefined) return "v1";
  const path = parsed.pathname.replace(/\/+$/, "");
  if (path.endsWith("/v1")) return "v1";
  if (path.endsWith("/v2")) return "v2";
  if (path === "" && isDenoOrigin(parsed.origin)) return "v2";
  return "v1";
}

/**
 * The v2 API root for `url`: `https://console.deno.com` → `https://console.deno.com/api/v2`,
 * `https://api.deno.com` → `https://api.deno.com/v2`; any other URL is kept as given, without
 * a trailing slash.
 */
export function v2BaseUrl(url: string): string {
  const trimmed = url.replace(/\/+$/, "");
  const parsed = parse(trimmed);
  if (parsed === undefined || parsed.pathname.replace(/\/+$/, "") !== "") return trimmed;
  if (parsed.origin === CONSOLE_ORIGIN) return `${CONSOLE_ORIGIN}/api/v2`;
  if (parsed.origin === API_ORIGIN) return `${API_ORIGIN}/v2`;
  return trimmed;
}

function isDenoOrigin(origin: string): boolean {
  return origin === CONSOLE_ORIGIN || origin === API_ORIGIN;
}

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}
