/**
 * `invoke()`: what a platform's backend calls when an event happens, e.g. a lead was captured
 * and the customer's hook must run.
 *
 * The local host routes by the `Host` header (`http://{project}-{deploymentId}.localhost:8000/`),
 * but glibc does not resolve `*.localhost` and `fetch` ignores a custom `Host` header. So a
 * `*.localhost` URL is sent through the router as an HTTP proxy: the request line carries the
 * absolute URL and the `Host` header names the deployment. Only `http:` URLs can go through a
 * proxy this way; `https:` would need a `CONNECT` tunnel, which the router does not offer.
 *
 * @example
 * ```ts
 * const response = await invoke("http://acme-crm-abcde12vwxyz.localhost:8000/lead", {
 *   method: "POST",
 *   body: JSON.stringify({ email: "ada@example.com" }),
 * });
 * ```
 *
 * @module
 */
import { DeployTenantError, ExitCode, NetworkError } from "./errors.ts";
import { networkErrorReason } from "./http.ts";
import { fetchThroughProxy, type ProxyAgent, proxyAgent } from "./proxy_fetch.ts";
import { ROUTER_ERROR_HEADER } from "./urls.ts";

/** Options of {@link invoke}. */
export interface InvokeOptions {
  /** Time limit in milliseconds for the whole exchange, body included; default 30 000, `0` none. */
  timeoutMs?: number;
  /** Origin of a router to send the request through as an HTTP proxy, e.g. `http://127.0.0.1:8000`. */
  via?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** One agent per proxy origin, so connections to the router are reused. */
const proxyAgents = new Map<string, ProxyAgent>();

/**
 * Methods a client may send twice (RFC 9110, 9.2.2). Only these go on a kept-alive connection:
 * when one closes before the answer, `node:http` in Deno sends the request again on a new one,
 * whatever the method, and HAProxy closes a kept-alive connection unanswered when the
 * deployment dies mid-request (for the client to retry): a `POST` hook ran twice. On a
 * connection of its own a request is sent once, and such a death is answered 502.
 */
const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/**
 * Calls a deployment like `fetch`, reaching `*.localhost` hosts through the local router.
 *
 * @throws {DeployTenantError} code `invokeTimeout` when no answer came within the limit.
 * @throws {NetworkError} when the deployment (or the router) could not be reached.
 */
export async function invoke(
  url: string | URL,
  init: RequestInit = {},
  options: InvokeOptions = {},
): Promise<Response> {
  const target = new URL(url);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const proxy = proxyFor(target, options.via);
  const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
  const signals = [init.signal, timeout].filter((signal) => signal instanceof AbortSignal);
  const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
  try {
    if (!proxy) return await fetch(target, { ...init, signal });
    const request = new Request(target, { ...init, signal: undefined });
    const agent = IDEMPOTENT_METHODS.has(request.method) ? agentFor(proxy) : proxyAgent(false);
    return await fetchThroughProxy(new URL(proxy), request, agent, signal);
  } catch (error) {
    if (init.signal?.aborted) throw init.signal.reason;
    if (timeout?.aborted) {
      throw new DeployTenantError(
        "invokeTimeout",
        `No answer from ${target.href} within ${timeoutMs} ms.`,
        {
          hint:
            "The deployment may be stuck or slow to start; raise the time limit or check its logs.",
          exitCode: ExitCode.unavailable,
          cause: error,
        },
      );
    }
    const through = proxy ? ` through ${proxy}` : "";
    throw new NetworkError(
      `Could not reach ${target.href}${through}: ${networkErrorReason(error)}`,
      {
        hint: proxy
          ? `Check that the host is running at ${proxy} (\`deploy-tenant host\`).`
          : "Check the URL and that the deployment exists.",
        cause: error,
      },
    );
  }
}

/**
 * The local host's router's own 404 for `url` (no deployment serves that name: deleted, or a
 * typo) as an error (exit 4); `undefined` for any deployment's answer, its own 404s included.
 */
export function notServedError(url: URL, response: Response): DeployTenantError | undefined {
  if (response.status !== 404) return undefined;
  if (response.headers.get(ROUTER_ERROR_HEADER) !== "deploymentNotFound") return undefined;
  return new DeployTenantError("deploymentNotServed", `No deployment answers at ${url.host}`, {
    hint: "The host's router answered, not a deployment: check the name " +
      "(`deploy-tenant deployments list <project>` lists the URLs), or whether the deployment " +
      "was deleted or the project has no production deployment.",
    exitCode: ExitCode.notFound,
  });
}

/**
 * What a failure while reading the body of `url`'s answer means, after `received` bytes: the
 * time limit ran out (`invokeTimeout`, exit 6), or the answer was cut (`invokeCut`, exit 1, as
 * for a 5xx: the deployment died or closed the connection mid-answer).
 */
export function bodyReadError(url: URL, error: unknown, received: number): DeployTenantError {
  if (error instanceof DeployTenantError) return error;
  if (error instanceof Error && error.name === "TimeoutError") {
    return new DeployTenantError(
      "invokeTimeout",
      `The answer from ${url.href} did not end within the time limit (${received} bytes came)`,
      { hint: "Raise --timeout, or check the deployment's logs.", exitCode: ExitCode.unavailable },
    );
  }
  return new DeployTenantError(
    "invokeCut",
    `The answer from ${url.href} was cut after ${received} bytes: ${networkErrorReason(error)}`,
    {
      hint: "The deployment closed the connection mid-answer (it may have crashed): check its " +
        "logs.",
      exitCode: ExitCode.failed,
      cause: error,
    },
  );
}

/** Closes the kept-alive connections to routers (tests call it so none outlives them). */
export function closeInvokeClients(): void {
  for (const agent of proxyAgents.values()) agent.destroy();
  proxyAgents.clear();
}

/** The proxy origin for `target`, or `undefined` to connect directly. */
function proxyFor(target: URL, via: string | undefined): string | undefined {
  const local = target.hostname === "localhost" || target.hostname.endsWith(".localhost");
  if (via === undefined && !local) return undefined;
  const proxy = via === undefined
    ? new URL(`http://127.0.0.1:${target.port || (target.protocol === "https:" ? 443 : 80)}`)
    : new URL(via);
  if (target.protocol !== "http:" || proxy.protocol !== "http:") {
    throw new DeployTenantError(
      "unsupportedProxy",
      `Cannot invoke ${target.href} through ${proxy.origin}: only http URLs through an http router are supported.`,
      { hint: "Use the http:// URL the local host prints.", exitCode: ExitCode.usage },
    );
  }
  return proxy.origin;
}

function agentFor(proxy: string): ProxyAgent {
  let agent = proxyAgents.get(proxy);
  if (!agent) {
    agent = proxyAgent();
    proxyAgents.set(proxy, agent);
  }
  return agent;
}
