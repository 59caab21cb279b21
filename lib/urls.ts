/**
 * The public URL of a deployment, from one of its `domains` and the API it came from.
 *
 * @module
 */

/**
 * The URL a deployment answers on. A local host (API on loopback) serves plain HTTP on its
 * own port, so `http://<domain>:<port>/`; anywhere else it is `https://<domain>/`.
 *
 * @example
 * ```ts
 * deploymentUrl("hooks-abc123.localhost", "http://127.0.0.1:8000/v1");
 * // → "http://hooks-abc123.localhost:8000/"
 * deploymentUrl("hooks-abc123.deno.dev", "https://api.deno.com/v1");
 * // → "https://hooks-abc123.deno.dev/"
 * ```
 */
export function deploymentUrl(domain: string, apiUrl: string): string {
  const api = new URL(apiUrl);
  if (isLoopback(api.hostname)) {
    const port = api.port || (api.protocol === "https:" ? "443" : "80");
    return `${api.protocol}//${domain}:${port}/`;
  }
  return `https://${domain}/`;
}

/** Whether `hostname` (as in `URL.hostname`) names this machine. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" ||
    /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Header the local host's router sets on an answer it gives itself, when no deployment serves
 * the requested name: the error code (`deploymentNotFound`). A deployment's own answers lack
 * it, so a caller can tell "this URL has no deployment" from "the deployment said 404".
 */
export const ROUTER_ERROR_HEADER = "x-deploy-tenant-router-error";
