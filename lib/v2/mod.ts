/**
 * The Deno Deploy v2 API client: {@link V2Client} and the wire types.
 *
 * @module
 */
export { isOrganizationToken, V2Client, type V2ClientOptions } from "./client.ts";
export { type LogStreamOptions, V2Apps } from "./apps.ts";
export { type RevisionStreamOptions, V2Revisions } from "./revisions.ts";
export { V2Domains } from "./domains.ts";
export { V2Layers } from "./layers.ts";
export { V2Databases } from "./databases.ts";
export { type AnalyticsRow, analyticsRows } from "./analytics.ts";
export { sseData, STREAM_ACCEPT, streamJson, type StreamRequestOptions } from "./stream.ts";
export { type ApiVersion, apiVersionOf, v2BaseUrl } from "./urls.ts";
export type * from "./types.ts";
// The transport's types appear in V2Client's options and in streamJson.
export type { HttpClient, HttpClientOptions, Query, RequestOptions, RetryInfo } from "../http.ts";
