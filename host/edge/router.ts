/**
 * The router: one listener where the `Host` header picks the deployment
 * (`{project}-{deployment}.<base-domain>`, or any domain attached to a deployment); every
 * other host name reaches the API.
 *
 * @module
 */
import { startSettings } from "../build/builder.ts";
import { ROUTER_ERROR_HEADER } from "../../lib/urls.ts";
import { isWebSocketUpgrade, relayWebSocket } from "./websocket.ts";
import { isHttpsRequest } from "./https.ts";
import {
  type AppLog,
  DEFAULT_REQUEST_TIMEOUT_MS,
  forwardFailureResponse,
  oversizedHeadMessage,
  oversizedHeadResponse,
  TIME_LIMIT_GRACE_MS,
  timeLimitResponse,
} from "../tenant/limits.ts";
import { deploymentDirs, type Instance, type Runtime } from "../tenant/runtime.ts";
import { ResponseHeadTooLarge } from "../tenant/client.ts";
import { sharedDomains } from "./shared_cookies.ts";
import type { DeploymentRecord, Store } from "../store/store.ts";
import { countBytes, type UsageMeter } from "../tenant/usage.ts";
import { customDomainCovering } from "../store/custom_domains.ts";

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
  /** Told when a running instance served a request here (the front proxy maps it then). */
  onServed?: (instance: Instance) => void;
}

/**
 * The deployment `host` (lower-case, no port) is served from, if it is live: the one bound
 * to the name, whose organization owns the name when it is a custom domain. Pass
 * `deploymentId` when the binding was looked up already.
 */
export function servedDeployment(
  store: Store,
  baseDomain: string,
  host: string,
  deploymentId: string | undefined = store.findDeploymentByDomain(host),
): DeploymentRecord | undefined {
  if (!deploymentId) return undefined;
  const record = store.getDeploymentRecord(deploymentId);
  return record && servesName(store, baseDomain, host, record, deploymentId) ? record : undefined;
}

/**
 * Whether `record` is served at `host` (lower-case, no port): it is live, bound to the name,
 * and, for a custom domain, its organization verified the name. Pass `boundTo` when the
 * binding was looked up already.
 */
export function servesName(
  store: Store,
  baseDomain: string,
  host: string,
  record: DeploymentRecord,
  boundTo: string | undefined = store.findDeploymentByDomain(host),
): boolean {
  if (record.status !== "success" || boundTo !== record.id) return false;
  // A custom domain serves only the organization that verified it.
  return host.endsWith("." + baseDomain) ||
    customDomainCovering(store, host)?.organizationId === record.organizationId;
}

/** The client's own request of a copy made in front of the router, by the copy. */
const originals = new WeakMap<Request, Request>();

/**
 * Records that `copy` stands for the client's `original` (see front_proxy.ts `behindProxy`), whose
 * signal aborts when the client goes away.
 */
export function copiedFrom(copy: Request, original: Request): void {
  originals.set(copy, original);
}

/** Aborts when the client of `request` goes away before its answer. */
function clientGone(request: Request): AbortSignal {
  return (originals.get(request) ?? request).signal;
}

/** Builds the host's request handler. */
export function createRouter(
  options: RouterOptions,
): (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  const { store, runtime, baseDomain } = options;
  const suffix = "." + baseDomain;
  const shared = sharedDomains(baseDomain);
  return async (request, info) => {
    const host = hostName(request);
    if (host === undefined) return invalidHostResponse();
    // An absolute-form target (`GET http://name/ HTTP/1.1`) names the authority Deno built the
    // URL from; it must be the Host's (RFC 9112 3.2.2), as HAProxy also requires.
    const url = new URL(request.url);
    if (!sameHostAsUrl(url, request)) return invalidHostResponse();
    const deploymentId = store.findDeploymentByDomain(host);
    if (!deploymentId) {
      if (host.endsWith(suffix)) {
        return errorResponse(404, "deploymentNotFound", `No deployment is served at ${host}`);
      }
      return await options.api(request);
    }
    const record = servedDeployment(store, baseDomain, host, deploymentId);
    if (!record) {
      return errorResponse(404, "deploymentNotFound", `No deployment is served at ${host}`);
    }
    const owner = { organizationId: record.organizationId, projectId: record.projectId };
    const usage = options.usage;
    usage?.add(owner, { requestCount: 1 });
    let instance: Instance;
    // Set for a cold start taken from the warm pool: the request goes to the runtime as soon as
    // it was handed the deployment, and waits in it until the deployment serves.
    let serving: Promise<void> | undefined;
    try {
      const running = runtime.running(deploymentId);
      if (running) instance = await running;
      else {
        // A running tenant needs no start settings (built from its files: system calls).
        const dirs = deploymentDirs(options.deploymentsDir, deploymentId);
        ({ instance, serving } = await runtime.forRequest(
          startSettings(store, record, dirs.app, baseDomain),
        ));
      }
    } catch (error) {
      return startFailureResponse(error);
    }
    instance.used();
    const timeoutMs = record.requestTimeout ?? options.defaultRequestTimeoutMs ??
      DEFAULT_REQUEST_TIMEOUT_MS;
    const headers = new Headers(request.headers);
    // Set by the host alone, like X-Forwarded-*: a client's own claims never reach the tenant.
    headers.delete("forwarded");
    if ("hostname" in info.remoteAddr) headers.set("x-forwarded-for", info.remoteAddr.hostname);
    // From the listener, not the URL: an absolute-form target names its own scheme.
    headers.set("x-forwarded-proto", isHttpsRequest(request) ? "https" : "http");
    if (isWebSocketUpgrade(request)) {
      try {
        await serving;
      } catch (error) {
        return startFailureResponse(error);
      }
      // Open while the connection is: the process serves, the CPU and idle guards know it.
      return await relayWebSocket(
        request,
        instance.client.socketPath,
        url.pathname + url.search,
        headers,
        {
          onOpen: () => instance.inFlight++,
          onClose: () => {
            instance.inFlight--;
            instance.used();
          },
          onBytes: usage &&
            ((toTenant, fromTenant) =>
              usage.add(owner, {
                networkIngressBytes: toTenant,
                networkEgressBytes: fromTenant,
              })),
          sharedDomains: shared,
        },
      );
    }
    const body = request.body && usage
      ? countBytes(request.body, (bytes) => usage.add(owner, { networkIngressBytes: bytes }))
      : request.body;
    // The limit covers the wait for the response head (from when the deployment serves); a
    // streamed body may take longer. The tenant answers 504 itself at its limit; this fires
    // only if its event loop is stuck.
    const timeout = new AbortController();
    // A client gone before the answer aborts the tenant's request too (its request.signal).
    const gone = clientGone(request);
    let answered = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const startTimer = () => {
      if (!answered) timer = setTimeout(() => timeout.abort(), timeoutMs + TIME_LIMIT_GRACE_MS);
    };
    if (serving) serving.then(startTimer, () => {});
    else startTimer();
    instance.inFlight++; // until the response head: the CPU guard spares a process that serves
    try {
      const response = await instance.client.fetch({
        method: request.method,
        path: `${url.pathname}${url.search}`,
        headers,
        body,
        signal: AbortSignal.any([timeout.signal, gone]),
        onBodyBytes: usage &&
          ((bytes) => usage.add(owner, { networkEgressBytes: bytes })),
        sharedDomains: shared,
      });
      instance.used();
      options.onServed?.(instance);
      return response;
    } catch (error) {
      if (error instanceof ResponseHeadTooLarge) {
        options.appLog?.(
          instance.deploymentId,
          "error",
          oversizedHeadMessage(request.method, url.pathname),
        );
        return oversizedHeadResponse();
      }
      // A runtime handed the deployment that then failed to load it: that is what to say.
      const failure = await serving?.then(() => undefined, (failure) => failure as Error);
      if (failure) return startFailureResponse(failure);
      // No one reads it: not worth waiting to see whether the process died.
      if (gone.aborted && !timeout.signal.aborted) return new Response(null, { status: 499 });
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
      return await forwardFailureResponse(instance);
    } finally {
      answered = true;
      clearTimeout(timer);
      instance.inFlight--;
    }
  };
}

/**
 * The request's host name, lower-case, without port, or `undefined` when it has no usable one
 * (none, empty, or not a name: HTTP/1.0 without Host, `%00`, spaces, slashes …).
 */
export function hostName(request: Request): string | undefined {
  const raw = request.headers.get("host")?.trim().toLowerCase();
  if (!raw || !USABLE_HOST.test(raw)) return undefined;
  // The tenant gets the Host as sent: a port Deno cannot make a URL with is refused here.
  const port = /:(\d+)$/.exec(raw)?.[1];
  if (port !== undefined && Number(port) > 65535) return undefined;
  return raw.replace(/:\d+$/, "").replace(/\.$/, "");
}

/** Whether the request URL's authority is its `Host` header's (default ports aside). */
function sameHostAsUrl(url: URL, request: Request): boolean {
  if (url.protocol !== "http:" && url.protocol !== "https:") return true; // http+unix: origin form
  try {
    const host = new URL(`${url.protocol}//${request.headers.get("host")}`).host;
    return host === url.host;
  } catch {
    return false;
  }
}

/** A DNS name or IPv4 address, or a bracketed IPv6 one, with an optional port. */
const USABLE_HOST = /^(?:[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_.])?|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

/** The answer to a request without a usable Host: the host's error shape, nothing logged. */
export function invalidHostResponse(): Response {
  return errorResponse(400, "invalidHost", "The request has no usable Host header");
}

/** The answer to a request whose deployment failed to start: the first line of why. */
function startFailureResponse(error: unknown): Response {
  return errorResponse(
    502,
    "deploymentUnavailable",
    `The deployment failed to start: ${(error as Error).message.split("\n")[0]}`,
  );
}

/**
 * The router's own error, `{code, message}`, marked as its own (`ROUTER_ERROR_HEADER`): `invoke`
 * must not take it for the deployment's answer.
 */
export function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ code, message }, { status, headers: { [ROUTER_ERROR_HEADER]: code } });
}
