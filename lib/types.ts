/**
 * Objects of the Deno Deploy Subhosting v1 API, typed from
 * `reference/subhosting-v1-openapi.json` plus the later fields in the API notes
 * (`domains`, `requestTimeout`, `permissions` on deployments).
 *
 * Shared by the client (`lib/`) and the local host (`host/`).
 *
 * @module
 */

/** An RFC 3339 timestamp, e.g. `2023-09-22T05:38:34.550090Z`. */
export type DateTime = string;

/** `GET /organizations/{id}`. */
export interface Organization {
  id: string;
  name: string;
  createdAt: DateTime;
  updatedAt: DateTime;
}

/** A project: one per customer (or per customer and event). */
export interface Project {
  id: string;
  name: string;
  description: string;
  createdAt: DateTime;
  updatedAt: DateTime;
}

/** Body of `POST /organizations/{id}/projects`. */
export interface CreateProjectRequest {
  name?: string | null;
  description?: string | null;
}

/** Body of `PATCH /projects/{id}`: `null` or omitted leaves a field unchanged. */
export interface UpdateProjectRequest {
  name?: string | null;
  description?: string | null;
}

/** Lifecycle of a deployment: `pending` until its build ends. */
export type DeploymentStatus = "pending" | "success" | "failed";

/** Outbound network permissions: `net` omitted allows all, `[]` denies all. */
export interface DeploymentPermissions {
  net?: string[] | null;
}

/** An immutable build of a project's code. */
export interface Deployment {
  id: string;
  projectId: string;
  description?: string | null;
  status: DeploymentStatus;
  domains?: string[] | null;
  databases: Record<string, string>;
  requestTimeout?: number | null;
  permissions?: DeploymentPermissions | null;
  createdAt: DateTime;
  updatedAt: DateTime;
}

/** Text goes as `utf-8`, anything else as `base64`. */
export type Encoding = "utf-8" | "base64";

/** A file sent with its content. */
export interface FileContentAsset {
  kind: "file";
  content: string;
  encoding?: Encoding;
}

/** A file the server already holds, named by its git blob SHA-1. */
export interface FileHashAsset {
  kind: "file";
  gitSha1: string;
}

/** A symlink to another asset path. */
export interface SymlinkAsset {
  kind: "symlink";
  target: string;
}

/** One entry of a deployment's `assets` map. */
export type Asset = FileContentAsset | FileHashAsset | SymlinkAsset;

/** Compiler options; `null` means "use the deno.json found in the assets". */
export interface CompilerOptions {
  jsx?: string | null;
  jsxFactory?: string | null;
  jsxFragmentFactory?: string | null;
  jsxImportSource?: string | null;
}

/** Body of `POST /projects/{id}/deployments`. */
export interface CreateDeploymentRequest {
  entryPointUrl: string;
  assets: Record<string, Asset>;
  envVars: Record<string, string>;
  importMapUrl?: string | null;
  lockFileUrl?: string | null;
  compilerOptions?: CompilerOptions | null;
  databases?: Record<string, string> | null;
  domains?: string[] | null;
  requestTimeout?: number | null;
  permissions?: DeploymentPermissions | null;
  description?: string | null;
  /** Run its `Deno.cron` jobs (a later v1 field). */
  enableCron?: boolean | null;
}

/** Body of `POST /deployments/{id}/redeploy`: values merge, `null` deletes. */
export interface RedeployRequest {
  envVars?: Record<string, string | null> | null;
  databases?: Record<string, string | null> | null;
  requestTimeout?: number | null;
  permissions?: DeploymentPermissions | null;
  description?: string | null;
}

/** One line of `GET /deployments/{id}/build_logs`. */
export interface BuildLogEntry {
  level: string;
  message: string;
}

/** Log levels of app logs. */
export type LogLevel = "debug" | "info" | "warning" | "error";

/** One line of `GET /deployments/{id}/app_logs`. */
export interface AppLogEntry {
  time: DateTime;
  level: LogLevel;
  message: string;
  region: string;
}

/** A KV database. */
export interface KvDatabase {
  id: string;
  organizationId: string;
  description: string;
  createdAt: DateTime;
  updatedAt: DateTime;
}

/** Body of `POST /organizations/{id}/databases`: a `null` description becomes `""`. */
export interface CreateKvDatabaseRequest {
  description?: string | null;
}

/** Body of `PATCH /databases/{id}`: a `null` or omitted description is left unchanged. */
export interface UpdateKvDatabaseRequest {
  description?: string | null;
}

/** The error body of every 4xx/5xx response. */
export interface ErrorBody {
  code: string;
  message: string;
}

/** Analytics as Grafana-style columns. */
export interface Analytics {
  fields: { name: string; type: "time" | "number" | "string" | "boolean" | "other" }[];
  values: unknown[][];
}

/** Query of the paginated list endpoints. */
export interface ListOptions {
  page?: number;
  limit?: number;
  q?: string;
  sort?: string;
  order?: "asc" | "desc";
}

/** A DNS record to create at the domain's DNS provider. */
export interface DnsRecord {
  /** `A`, `AAAA` or `CNAME`. */
  type: string;
  /** The record's name. */
  name: string;
  /** What it points at. */
  content: string;
}

/** A TLS certificate of a custom domain (the certificate itself is never returned). */
export interface DomainCertificate {
  cipher: "rsa" | "ec";
  expiresAt: DateTime;
  createdAt: DateTime;
  updatedAt: DateTime;
}

/** Where a custom domain's TLS certificate stands. */
export type ProvisioningStatus =
  | { code: "success" }
  | { code: "failed"; message: string }
  | { code: "pending" }
  | { code: "manual" };

/** A custom domain registered by an organization. */
export interface Domain {
  id: string;
  organizationId: string;
  /** e.g. `shop.example.com`, or a wildcard `*.example.net`. */
  domain: string;
  /** The verification token in the `_acme-challenge` CNAME. */
  token: string;
  isValidated: boolean;
  certificates: DomainCertificate[];
  provisioningStatus: ProvisioningStatus;
  /** Omitted when the domain is not associated with a project. */
  projectId?: string | null;
  deploymentId?: string | null;
  dnsRecords: DnsRecord[];
  /**
   * Every alternative set of records (v2's `dns_records`): publish all the records of one
   * set. `dnsRecords` is the first. Absent on v1, which has one set.
   */
  dnsRecordSets?: DnsRecord[][];
  createdAt: DateTime;
  updatedAt: DateTime;
}

/** Body of `POST /domains/{id}/certificates`: PEM, the leaf first in the chain. */
export interface AddDomainCertificateRequest {
  privateKey: string;
  certificateChain: string;
}
