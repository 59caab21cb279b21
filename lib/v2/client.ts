/**
 * The client of the Deno Deploy v2 API: one {@link HttpClient} (retries with backoff, `429`
 * without `Retry-After` included, error bodies with `x-deno-trace-id`, `Link` pagination)
 * shared by one object per resource.
 *
 * Authentication: `Authorization: Bearer <token>`. An organization token (`ddo_…`) is scoped
 * to one organization, so nothing else is sent; any other token (a personal `ddp_…` one, or a
 * local host's) names the organization with `X-Deno-Org: <slug or id>` from `org`.
 *
 * @example
 * ```ts
 * const v2 = new V2Client({ baseUrl: "https://console.deno.com", token: "ddo_…" });
 * const app = await v2.apps.create({ slug: "acme-hooks" });
 * const revision = await v2.apps.deploy(app.id, {
 *   assets: { "main.ts": { content: "Deno.serve(() => new Response('hi'))" } },
 *   config: { runtime: { type: "dynamic", entrypoint: "main.ts" } },
 * });
 * for await (const line of v2.revisions.buildLogs(revision.id)) console.log(line.message);
 * console.log((await v2.revisions.get(revision.id)).status);
 * ```
 *
 * @module
 */
import { HttpClient, type HttpClientOptions } from "../http.ts";
import { V2Apps } from "./apps.ts";
import { V2Databases } from "./databases.ts";
import { V2Domains } from "./domains.ts";
import { V2Layers } from "./layers.ts";
import { V2Revisions } from "./revisions.ts";
import { v2BaseUrl } from "./urls.ts";

/** Options of {@link V2Client}. */
export interface V2ClientOptions extends Omit<HttpClientOptions, "headers"> {
  /**
   * The v2 API root, e.g. `https://api.deno.com/v2` or `https://console.deno.com/api/v2`;
   * `https://api.deno.com` and `https://console.deno.com` alone are completed.
   */
  baseUrl: string;
  /** The organization's slug or id, sent as `X-Deno-Org` unless the token is a `ddo_` one. */
  org?: string;
}

/** Whether `token` is an organization token, which names its organization by itself. */
export function isOrganizationToken(token: string | undefined): boolean {
  return token?.startsWith("ddo_") ?? false;
}

/** A typed client of the v2 API; nothing is sent until the first call. */
export class V2Client {
  /** The HTTP transport, for requests this client does not cover. */
  readonly http: HttpClient;
  /** Apps, deploys, timelines, app logs, analytics. */
  readonly apps: V2Apps;
  /** Revisions, their builds, and the domains bound to them. */
  readonly revisions: V2Revisions;
  /** Organization domains and their certificates. */
  readonly domains: V2Domains;
  /** Shared configuration layers. */
  readonly layers: V2Layers;
  /** Database instances. */
  readonly databases: V2Databases;

  /** Creates a client for `options.baseUrl`. */
  constructor(options: V2ClientOptions) {
    const { org, ...http } = options;
    const headers: Record<string, string> = {};
    // The org of a `ddo_` token is fixed; a second name could only disagree with it.
    if (org && !isOrganizationToken(options.token)) headers["x-deno-org"] = org;
    this.http = new HttpClient({ ...http, baseUrl: v2BaseUrl(options.baseUrl), headers });
    this.apps = new V2Apps(this.http);
    this.revisions = new V2Revisions(this.http);
    this.domains = new V2Domains(this.http);
    this.layers = new V2Layers(this.http);
    this.databases = new V2Databases(this.http);
  }
}
