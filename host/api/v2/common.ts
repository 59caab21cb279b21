/**
 * What every v2 route shares: its dependencies, v2's error codes, cursor pagination with an
 * absolute `Link`, query parameters, and looking up an app, revision or layer as the
 * caller's organization sees it (another organization's is "not found").
 *
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ApiEngine } from "../engine.ts";
import type { DeploymentWrites } from "../deployment_writes.ts";
import type { QuotaGuard } from "../quotas.ts";
import type { LiveStreamSlots } from "../live_streams.ts";
import type { AppLogs } from "../../tenant/app_logs.ts";
import { isUuid } from "../../store/ids.ts";
import type { DeploymentRecord, ProjectRecord, Store } from "../../store/store.ts";
import { findLayer, type LayerRecord } from "../../store/layers.ts";
import type { UsageMeter } from "../../tenant/usage.ts";
import type { DomainServices } from "../v1/domains.ts";
import { RequestError } from "../validate.ts";

/** Hono variables of a v2 request: the caller's organization and the trace id. */
export type V2Env = { Variables: { organizationId: string; rayId: string } };

/** Context of a v2 request. */
export type V2Context = Context<V2Env>;

/** What the v2 routes work with; the deployment writes are the v1 API's, shared. */
export interface V2Deps {
  store: Store;
  engine: ApiEngine;
  appLogs?: AppLogs;
  usage?: UsageMeter;
  /** DNS verification and the local CA, for the domain routes. */
  domains: DomainServices;
  /** Largest accepted deploy body, in bytes. */
  maxBodyBytes: number;
  /** Records and deletes deployments with their blobs (shared with v1). */
  writes: DeploymentWrites;
  /** Per-organization quotas (shared with v1). */
  quotas: QuotaGuard;
  /** The live log streams each organization holds open (shared with v1). */
  liveStreams: LiveStreamSlots;
  /** Reads a JSON body of at most `maxBytes`. */
  readJson(c: V2Context, maxBytes: number): Promise<unknown>;
}

/** Small JSON bodies: apps, layers, domains. */
export const SMALL_BODY_BYTES = 1024 * 1024;

/** `invalidRequest` → `INVALID_REQUEST`: v2 codes are upper snake case. */
export function v2Code(code: string): string {
  return code.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

/** The `{code, message}` error answer of v2. */
export function v2Error(c: V2Context, status: number, code: string, message: string): Response {
  return c.json({ code: v2Code(code), message }, status as ContentfulStatusCode);
}

/** A 400 with v2's `INVALID_REQUEST` code unless another is given. */
export function invalid(message: string, code = "INVALID_REQUEST"): RequestError {
  return new RequestError(400, code, message);
}

/** A 404 for the named thing. */
export function notFound(what: string, id: string): RequestError {
  return new RequestError(
    404,
    `${what.toUpperCase()}_NOT_FOUND`,
    `${what[0].toUpperCase()}${what.slice(1)} "${id}" was not found`,
  );
}

/** The caller's app whose id or slug is `idOrSlug`. */
export function ownApp(c: V2Context, store: Store, idOrSlug: string): ProjectRecord {
  const organizationId = c.get("organizationId");
  const project = isUuid(idOrSlug)
    ? store.getProject(idOrSlug.toLowerCase())
    : store.findProjectByName(idOrSlug);
  if (!project || project.organizationId !== organizationId) throw notFound("app", idOrSlug);
  return project;
}

/** The caller's revision `id`. */
export function ownRevision(c: V2Context, store: Store, id: string): DeploymentRecord {
  const record = /^[a-z0-9]{1,64}$/.test(id) ? store.getDeploymentRecord(id) : undefined;
  if (!record || record.organizationId !== c.get("organizationId")) throw notFound("revision", id);
  return record;
}

/** The caller's layer whose id or slug is `idOrSlug`. */
export function ownLayer(c: V2Context, store: Store, idOrSlug: string): LayerRecord {
  const layer = findLayer(store, c.get("organizationId"), idOrSlug);
  if (!layer) throw notFound("layer", idOrSlug);
  return layer;
}

/** A query parameter; empty counts as absent. */
export function param(c: V2Context, name: string): string | undefined {
  const value = c.req.query(name);
  return value === undefined || value === "" ? undefined : value;
}

/**
 * One page of `items` for `cursor` and `limit` (1–100, default 30), with
 * `Link: <…?cursor=…>; rel="next"` (absolute) when more follow. The cursor is opaque to
 * clients: here, the position of the next item.
 */
export function paginate<T>(c: V2Context, items: readonly T[], maxLimit = 100): T[] {
  return pageOf(c, (offset, limit) => items.slice(offset, offset + limit), maxLimit);
}

/**
 * {@link paginate} for lists too long to hold whole: `read(offset, limit)` returns up to `limit`
 * items from the `offset`th on. One more than the page is read, to know whether more follow.
 */
export function pageOf<T>(
  c: V2Context,
  read: (offset: number, limit: number) => T[],
  maxLimit = 100,
): T[] {
  const limitText = param(c, "limit");
  const limit = limitText === undefined ? 30 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
    throw invalid(`"limit" must be an integer from 1 to ${maxLimit}, not "${limitText}"`);
  }
  const cursor = param(c, "cursor");
  const start = cursor === undefined ? 0 : cursorPosition(cursor);
  const page = read(start, limit + 1);
  if (page.length > limit) {
    const url = new URL(c.req.url);
    url.searchParams.set("cursor", btoa(String(start + limit)).replace(/=+$/, ""));
    c.header("Link", `<${url.href}>; rel="next"`);
  }
  return page.slice(0, limit);
}

/**
 * The position a cursor of {@link paginate} stands for. Anything else a client sends is a 400:
 * `atob` throws on text that is not base64 (`a`), which was a 500 with a stack trace in the
 * host's log, and only the digits `paginate` writes are a position.
 */
function cursorPosition(cursor: string): number {
  let text = "";
  try {
    if (/^[A-Za-z0-9_-]{1,32}$/.test(cursor)) {
      text = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    }
  } catch { /* not base64: refused below */ }
  if (!/^(?:0|[1-9][0-9]{0,14})$/.test(text)) {
    throw invalid("The cursor is not valid: pass the one from the previous page's Link header");
  }
  return Number(text);
}

/** v2's slug rule for apps and layers, within what a host name label allows here. */
export function slugProblem(slug: string, what: string): string | undefined {
  if (!/^[a-z0-9](?:[a-z0-9-]{1,30}[a-z0-9])$/.test(slug)) {
    return `The ${what} slug "${slug}" is invalid: 3 to 32 characters from a-z, 0-9 and -, ` +
      "starting and ending with a letter or digit";
  }
  if (slug.includes("--")) return `The ${what} slug "${slug}" may not contain "--"`;
  return undefined;
}
