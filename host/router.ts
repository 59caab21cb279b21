/**
 * The router: one listener where the `Host` header picks the deployment
 * (`{project}-{deployment}.<base-domain>`, or any domain attached to a deployment); every
 * other host name reaches the API.
 *
 * @module
 */
import { runnableDeployment } from "./builder.ts";
import { type AppLog, forwardFailureResponse, PROBE_HEADER, timeLimitResponse } from "./limits.ts";
import { deploymentDirs, type Runtime } from "./runtime.ts";
import type { Store } from "./store.ts";
import { countBytes, type UsageMeter } from "./usage.ts";

/** What the router needs. */
export interface RouterOptions {
  store: Store;
  runtime: Runtime;
  deploymentsDir: string;
  baseDomain: string;
  /** Serves requests that are not for a deployment. */
  api: (request: Request) => Response | Promise<Response>;
  /** Wall-clock limit per request when the deployment sets none. */
  defaultRequestTimeoutMs?: number;
  /** Counts requests and body bytes per project. */
  usage?: UsageMeter;
  /** Writes the host's events about a deployment (e.g. a timed-out request) to its app log. */
  appLog?: AppLog;
}

/** Builds the host's request handler. */
export function createRouter(
  options: RouterOptions,
): (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  const { store, runtime, baseDomain } = options;
  const suffix = "." + baseDomain;
  return async (request, info) => {
    const host = hostName(request);
    const deploymentId = store.findDeploymentByDomain(host);
    if (!deploymentId) {
      if (host.endsWith(suffix)) {
        return errorResponse(404, "deploymentNotFound", `No deployment is served at ${host}`);
      }
      return await options.api(request);
    }
    const record = store.getDeploymentRecord(deploymentId);
    // A custom domain serves only the organization that verified it.
    const ownsHost = host.endsWith(suffix) ||
      store.customDomainCovering(host)?.organizationId === record?.organizationId;
    if (!record || record.status !== "success" || !ownsHost) {
      return errorResponse(404, "deploymentNotFound", `No deployment is served at ${host}`);
    }
    const owner = { organizationId: record.organizationId, projectId: record.projectId };
    const usage = options.usage;
    usage?.add(owner, { requestCount: 1 });
    let instance;
    try {
      const dirs = deploymentDirs(options.deploymentsDir, deploymentId);
      instance = await runtime.ensure(runnableDeployment(record, dirs.app));
    } catch (error) {
      return errorResponse(
        502,
        "deploymentUnavailable",
        `The deployment failed to start: ${(error as Error).message.split("\n")[0]}`,
      );
    }
    instance.lastUsed = Date.now();
    const timeoutMs = record.requestTimeout ?? options.defaultRequestTimeoutMs ?? 60_000;
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    if ("hostname" in info.remoteAddr) headers.set("x-forwarded-for", info.remoteAddr.hostname);
    headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
    headers.delete(PROBE_HEADER);
    const body = request.body && usage
      ? countBytes(request.body, (bytes) => usage.add(owner, { networkIngressBytes: bytes }))
      : request.body;
    // The limit covers the wait for the response head; a streamed body may take longer.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    try {
      const response = await fetch(`http://${host}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        body,
        redirect: "manual",
        client: instance.client,
        signal: timeout.signal,
      });
      instance.lastUsed = Date.now();
      if (!response.body || !usage) return response;
      const { status, statusText } = response;
      const counted = countBytes(
        response.body,
        (bytes) => usage.add(owner, { networkEgressBytes: bytes }),
      );
      return new Response(counted, { status, statusText, headers: response.headers });
    } catch (error) {
      if (timeout.signal.aborted) {
        return await timeLimitResponse({
          instance,
          runtime,
          timeoutMs,
          method: request.method,
          path: url.pathname,
          log: options.appLog ?? (() => {}),
        });
      }
      return await forwardFailureResponse(instance, error);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The request's host name, lower-case, without port. Absolute-form requests (via a proxy) carry it in the URL. */
function hostName(request: Request): string {
  const raw = request.headers.get("host") ?? new URL(request.url).host;
  return raw.replace(/:\d+$/, "").replace(/\.$/, "").toLowerCase();
}

function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ code, message }, { status });
}
