/**
 * deploy-tenant as a library: what a SaaS platform's backend imports to deploy its
 * customers' code and call it.
 *
 * - {@link V1Api} / {@link V2Api}: the typed Deploy API client over v1 or v2 (projects are v2
 *   apps, deployments v2 revisions), behind one {@link DeployApi} interface;
 * - {@link deploy}: directory → deployment, with asset reuse and build following;
 * - {@link pack} / {@link deploymentBody}: the directory packer and streamed request body;
 * - {@link invoke}: call a deployment when an event happens ({@link resolveDeployment}: a
 *   project's production deployment);
 * - {@link usageByProject}: each project's usage over a range, for billing.
 *
 * @example
 * ```ts
 * import {
 *   defaultCacheDir,
 *   deploy,
 *   deploymentUrl,
 *   invoke,
 *   UploadCache,
 *   V1Api,
 * } from "@deploy-tenant/deploy-tenant";
 *
 * const api = new V1Api({ baseUrl, token, organizationId });
 * const cache = await UploadCache.open(defaultCacheDir(), baseUrl, organizationId);
 * const { deployment } = await deploy({ api, project: "acme-crm", root: "./hooks", cache });
 * const url = deploymentUrl(deployment.domains![0], baseUrl);
 * const decision = await (await invoke(new URL("/lead", url), { method: "POST", body })).json();
 * ```
 *
 * @module
 */
export {
  type AnalyticsApi,
  type AnalyticsRange,
  type AppLogFilter,
  type AppLogPage,
  type AppLogQuery,
  type AppLogsApi,
  type AttachOptions,
  type DatabasesApi,
  type DeployApi,
  type DeploymentsApi,
  type DomainsApi,
  type EnvApi,
  type ProjectsApi,
  V1Api,
  type V1ApiOptions,
} from "./api.ts";
export { V2Api, type V2ApiOptions } from "./v2_api.ts";
export { type ApiVersion, apiVersionOf } from "./v2/urls.ts";
export {
  HttpClient,
  type HttpClientOptions,
  ndjson,
  parseLinkHeader,
  type RequestOptions,
  type RetryInfo,
} from "./http.ts";
export {
  buildErrorOf,
  type BuildStatusApi,
  checkRoot,
  DEFAULT_BUILD_TIMEOUT_MS,
  DEFAULT_UNREACHABLE_MS,
  deploy,
  type DeployEvent,
  type DeploymentSettings,
  type DeployOptions,
  type DeployPlan,
  type DeployResult,
  planDeploy,
  type PlannedFile,
  waitForBuild,
  type WaitOptions,
} from "./deploy.ts";
export {
  type BodyOptions,
  deploymentBody,
  detectEntrypoint,
  ENTRYPOINT_CANDIDATES,
  type Pack,
  pack,
  type PackedEntry,
  type PackedFile,
  type PackedSymlink,
  type PackOptions,
  type UploadStats,
} from "./packer.ts";
export {
  attachDomains,
  type AttachResult,
  baseDomainOf,
  domainHolder,
  isProduction,
  productionDomain,
  promote,
  type PromoteResult,
  type RefusedDomain,
} from "./domains.ts";
export {
  DEFAULT_PRODUCTION_ATTEMPTS,
  type RedeployEvent,
  redeployToProduction,
  type RedeployToProductionOptions,
  type RedeployToProductionResult,
} from "./redeploy.ts";
export {
  analyticsRows,
  type ProjectUsage,
  sumUsage,
  toCsv,
  USAGE_FIELDS,
  usageByProject,
  type UsageField,
  type UsageRow,
  type UsageTotals,
} from "./analytics.ts";
export { parseDuration, parseRfc3339, parseTimeArg } from "./time.ts";
export { UploadCache, type UploadCacheOptions } from "./upload_cache.ts";
export { closeInvokeClients, invoke, type InvokeOptions } from "./invoke.ts";
export { resolveDeployment } from "./deployment_target.ts";
export { deploymentUrl } from "./urls.ts";
export { parseEnvAssignment, parseEnvFile } from "./env_file.ts";
export {
  type ApiConfig,
  type ConfigFlags,
  type DeployConfig,
  readDeployConfig,
  resolveApiConfig,
} from "./config.ts";
export {
  ApiError,
  DeployTenantError,
  ExitCode,
  exitCodeForStatus,
  NetworkError,
} from "./errors.ts";
export { gitSha1, isGitSha1 } from "./git_sha1.ts";
export { defaultCacheDir, defaultDataDir } from "./paths.ts";
export type * from "./types.ts";
