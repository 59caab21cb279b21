/**
 * Objects of the Deno Deploy **v2** API (apps, revisions, timelines, layers, domains, logs,
 * analytics, database instances), snake_case exactly as on the wire.
 *
 * Sources, by authority: the official SDK `@deno/sandbox@0.13.2` (`esm/types.d.ts`), the API
 * notes (`reference/subhosting-api-notes.md` part B), and the StackQL conversion of the v2
 * OpenAPI. The service adds values over time (the spec says "clients must tolerate unknown
 * values"), so every string enum here is open: `"queued" | … | (string & {})` keeps the known
 * values for completion while accepting any other string. Nothing in `lib/v2/` throws on an
 * unknown status, field or code.
 *
 * @module
 */

// `string & {}` is the idiom for an open union: plain `string` would swallow the literals and
// lose completion. It is the one use of `{}` here, so the rule is off for this file.
// deno-lint-ignore-file ban-types

/** An ISO 8601 / RFC 3339 timestamp, e.g. `2024-01-15T10:30:00Z`. */
export type DateTime = string;

/** The error body of every v2 endpoint. */
export interface ApiErrorBody {
  /** Machine-readable, e.g. `REVISION_RETENTION_NOT_AVAILABLE`. */
  code: string;
  /** For people. */
  message: string;
}

/** Options shared by every paginated list (`cursor` is followed for you). */
export interface ListOptions {
  /** Page size, 1–100 (the server's default is 30). */
  limit?: number;
}

/**
 * Labels on an app (at most 5) or a revision, e.g. `{"custom.customer_id": "cust_123"}`.
 * The spec allows a value to be a string or an array of strings.
 */
export type Labels = Record<string, string | string[]>;

// ---------------------------------------------------------------------------------------------
// Environment variables and layers

/** Where a variable applies: `"all"` (the default) or contexts such as `["production"]`. */
export type EnvVarContexts = "all" | string[];

/** An app's or a layer's variable as the API returns it. */
export interface EnvVar {
  /** Matches updates by id (see {@link EnvVarUpdate}). */
  id: string;
  /** The variable's name. */
  key: string;
  /** Absent when {@link secret} is true: a read-modify-write round trip would clear it. */
  value?: string;
  /** Whether the value is hidden in responses. */
  secret: boolean;
  /** Where the variable applies. */
  contexts: EnvVarContexts;
}

/** A variable to create on an app or a layer. */
export interface EnvVarInput {
  /** 1–128 characters; not `DENO_*` (few exceptions), `LD_*` or `OTEL_*`. */
  key: string;
  /** The spec allows 65 536 characters, the docs 16 KiB: stay under 16 384 bytes. */
  value: string;
  /** Hide the value in responses; default false. */
  secret?: boolean;
  /** Default `"all"`. */
  contexts?: EnvVarContexts;
}

/**
 * One change in `PATCH /apps/{app}` or `PATCH /layers/{layer}`: variables are deep-merged,
 * matched by `id`, else by key and contexts; an unmatched entry is created and
 * `delete: true` removes the match (v2 has no "null deletes" rule).
 */
export interface EnvVarUpdate {
  /** The existing variable to change or delete. */
  id?: string;
  /** Matches when `id` is absent; the new name otherwise. */
  key?: string;
  /** The new value. */
  value?: string;
  /** Whether to hide the value in responses. */
  secret?: boolean;
  /** Where the variable applies. */
  contexts?: EnvVarContexts;
  /** Removes the matched variable. */
  delete?: boolean;
}

/** A revision's own variable: immutable, highest priority, no secret flag or contexts. */
export interface RevisionEnvVar {
  /** The variable's name. */
  key: string;
  /** The variable's value. */
  value: string;
}

/** A layer as referenced by an app or a revision, in priority order (later wins). */
export interface LayerRef {
  /** E.g. `lyr_abc123` (ids always contain an underscore, slugs never). */
  id: string;
  /** E.g. `shared-secrets`. */
  slug: string;
}

/** Org-scoped shared configuration; updating one restarts the isolates of its apps. */
export interface Layer {
  /** E.g. `lyr_abc123`. */
  id: string;
  /** Unique in the organization. */
  slug: string;
  /** What the layer is for. */
  description?: string;
  /** Layers this one includes; its own variables override theirs. */
  layers: LayerRef[];
  /** The layer's variables. */
  env_vars: EnvVar[];
  /** How many apps reference it (a layer in use cannot be deleted: 409). */
  app_count: number;
  /** When it was created. */
  created_at: DateTime;
  /** When it last changed. */
  updated_at: DateTime;
}

/** Body of `POST /layers` (answered with 201). */
export interface CreateLayerRequest {
  /** Unique in the organization. */
  slug: string;
  /** What the layer is for. */
  description?: string;
  /** Layers to include, by id or slug. */
  layers?: string[];
  /** The layer's variables. */
  env_vars?: EnvVarInput[];
}

/** Body of `PATCH /layers/{layer}`: `layers` replaces all, `env_vars` deep-merges. */
export interface UpdateLayerRequest {
  /** A new slug. */
  slug?: string;
  /** A new description. */
  description?: string;
  /** Replaces every included layer (ids or slugs). */
  layers?: string[];
  /** Deep-merged into the layer's variables. */
  env_vars?: EnvVarUpdate[];
}

/** Options of `GET /layers`. */
export interface ListLayersOptions extends ListOptions {
  /** Full-text filter. */
  search?: string;
}

/** An app that uses a layer (`GET /layers/{layer}/apps`). */
export interface LayerAppRef {
  /** The app's UUID. */
  id: string;
  /** The app's slug. */
  slug: string;
  /** The layer's index in the app's `layers`. */
  layer_position: number;
}

// ---------------------------------------------------------------------------------------------
// Apps

/** A framework preset; `""` means none. Mutually exclusive with `runtime`. */
export type Framework =
  | ""
  | "nextjs"
  | "astro"
  | "nuxt"
  | "remix"
  | "solidstart"
  | "tanstackstart"
  | "sveltekit"
  | "fresh"
  | "lume"
  | (string & {});

/** A Deno process started from an entry point (what a v1 deployment was). */
export interface DynamicRuntime {
  /** Runs a Deno process. */
  type: "dynamic";
  /** The main module, relative to the assets' root; required for `dynamic`. */
  entrypoint: string;
  /** Extra arguments passed to the entry point. */
  args?: string[];
}

/** Pre-built files served as they are. */
export interface StaticRuntime {
  /** Serves files. */
  type: "static";
  /** The directory served; required for `static`. */
  cwd: string;
  /** Single-page-app mode: unknown paths answer `index.html`. */
  spa?: boolean;
}

/** How a revision runs. */
export type RuntimeConfig = DynamicRuntime | StaticRuntime;

/**
 * Build and runtime configuration of an app (defaults for its revisions) or of one revision.
 * A v1-like deployment is `{install: "deno install", runtime: {type: "dynamic", entrypoint}}`.
 */
export interface AppConfig {
  /** A framework preset instead of `runtime`. */
  framework?: Framework;
  /** The install command; omitted or null skips the step. */
  install?: string | null;
  /** The build command; omitted or null skips the step. */
  build?: string | null;
  /** Runs before each deployment, once per timeline (e.g. migrations). */
  predeploy?: string | null;
  /** How the revision runs, instead of `framework`. */
  runtime?: RuntimeConfig;
  /** Default true; false makes revisions that register `Deno.cron` fail to build. */
  crons?: boolean;
}

/** An app (the v1 project): one per function, with defaults for its revisions. */
export interface App {
  /** A UUID. */
  id: string;
  /** 3–32 characters of `a-z`, `0-9` and `-`; unique in the organization. */
  slug: string;
  /** At most 5. */
  labels?: Labels;
  /** In priority order, later overrides earlier. */
  layers: LayerRef[];
  /** The app's variables; they override the layers'. */
  env_vars?: EnvVar[];
  /** Defaults for new revisions. */
  config?: AppConfig;
  /** When it was created. */
  created_at: DateTime;
  /** When it last changed. */
  updated_at: DateTime;
}

/** An app as listed by `GET /apps`: without `env_vars` and `config`. */
export type AppListItem = Omit<App, "env_vars" | "config">;

/** Body of `POST /apps`; `{}` creates an app with a random slug. */
export interface CreateAppRequest {
  /** Random when omitted; a duplicate is a 409. */
  slug?: string;
  /** At most 5. */
  labels?: Labels;
  /** Layers by id or slug. */
  layers?: string[];
  /** The app's variables. */
  env_vars?: EnvVarInput[];
  /** Defaults for new revisions. */
  config?: AppConfig;
}

/**
 * Body of `PATCH /apps/{app}`, all optional: `labels` and `layers` replace the whole value,
 * `env_vars` deep-merges (see {@link EnvVarUpdate}), `config` replaces the whole config.
 * Changing `layers` or `env_vars` restarts running isolates; no redeploy is needed.
 */
export interface UpdateAppRequest {
  /** A new slug. */
  slug?: string;
  /** Replaces every label. */
  labels?: Labels;
  /** Replaces every layer reference (ids or slugs). */
  layers?: string[];
  /** Deep-merged into the app's variables. */
  env_vars?: EnvVarUpdate[];
  /** Replaces the whole config (no deep merge). */
  config?: AppConfig;
}

/** Options of `GET /apps`. */
export interface ListAppsOptions extends ListOptions {
  /** Only apps with all these labels, sent as `labels[key]=value`. */
  labels?: Record<string, string>;
  /** Only apps using this layer (id or slug). */
  layer?: string;
}

// ---------------------------------------------------------------------------------------------
// Deploy and revisions

/** A file to deploy: UTF-8 text (the default) or base64 bytes. */
export interface FileAsset {
  /** Default `file`. */
  kind?: "file";
  /** Default `utf-8`. */
  encoding?: "utf-8" | "base64";
  /** The text, or the base64 of the bytes. */
  content: string;
}

/** A symbolic link to deploy. */
export interface SymlinkAsset {
  /** A link. */
  kind: "symlink";
  /** The path it points to, relative to the link. */
  target: string;
}

/** One entry of a deploy's `assets`. v2 has no `gitSha1` form: content is always sent. */
export type Asset = FileAsset | SymlinkAsset;

/** A manual database bound to a revision on one timeline. */
export interface DatabaseBinding {
  /** The database instance (id or slug). */
  instance: string;
  /** The database's name on that instance. */
  name: string;
}

/**
 * Where a deploy goes on the production or the preview timeline: `true` (or `{}`) joins it
 * with the default wiring, `false` keeps it out, `{domains}` binds only those hostnames
 * (templates such as `{deno.app.slug}` allowed in the first label; `[]` binds nothing).
 */
export type DeployTarget = boolean | {
  /** Hostnames bound to this revision; the default alias only if listed. */
  domains?: string[];
  /** Manual databases bound under this timeline. */
  databases?: DatabaseBinding[];
};

/** A revision's garbage-collection policy; `indefinite` is enterprise-only (else 403). */
export type Retention = "auto" | "indefinite" | (string & {});

/** Body of `POST /apps/{app}/deploy`. */
export interface DeployRequest {
  /** Path (relative to `/app/src`) → asset. */
  assets: Record<string, Asset>;
  /** Omitted: inherited from the app; present: replaces the app's config entirely. */
  config?: AppConfig;
  /** Layers for this revision, by id or slug. */
  layers?: string[];
  /** Revision-only variables (immutable, highest priority). */
  env_vars?: RevisionEnvVar[];
  /** Metadata such as git branch and commit. */
  labels?: Labels;
  /** Default `true`: the production alias moves to this revision. */
  production?: DeployTarget;
  /** Default `false`: no per-revision preview URL. */
  preview?: DeployTarget;
  /** Default `auto`. */
  retention?: Retention;
}

/** Where a revision is in its life: `queued → building → succeeded`, or `failed`/`skipped`. */
export type RevisionStatus =
  | "queued"
  | "building"
  | "succeeded"
  | "failed"
  | "skipped"
  | (string & {});

/** Why a revision failed. */
export type RevisionFailureReason =
  | "error"
  | "cancelled"
  | "timed_out"
  | "skipped"
  | (string & {});

/**
 * Detail of a failure *after* a successful build. Today `stage` is always `warmup` and `code`
 * is `boot_failed` (the app did not start: see its logs) or `internal`; more may come.
 */
export interface RevisionFailureDetail {
  /** The stage that failed, e.g. `warmup`. */
  stage: "warmup" | (string & {});
  /** E.g. `boot_failed` or `internal`. */
  code: "boot_failed" | "internal" | (string & {});
  /** For people. */
  message: string;
}

/** A timeline a revision is part of, with the hostnames it serves there right now. */
export interface RevisionTimeline {
  /** E.g. `Production`, `Preview`, `Production (pinned)`. */
  name: string;
  /** The env-var context, e.g. `Production`. */
  context: string;
  /** Only hostnames this revision actually serves (eventually consistent). */
  hostnames: string[];
}

/** A revision (the v1 deployment): an immutable build and deploy of an app. */
export interface Revision {
  /** Globally unique, e.g. `r2ysnrrhr352`. */
  id: string;
  /** Lifecycle status; unknown values are possible. */
  status: RevisionStatus;
  /** Null unless failed. */
  failure_reason: RevisionFailureReason | null;
  /** Null unless it failed after the build (e.g. at warmup); absent in older answers. */
  failure_detail?: RevisionFailureDetail | null;
  /** Metadata, e.g. git info. */
  labels?: Labels;
  /** In priority order. */
  layers?: LayerRef[];
  /** The revision's own variables. */
  env_vars?: RevisionEnvVar[];
  /** The configuration it was built with. */
  config?: AppConfig;
  /** When it was created. */
  created_at: DateTime;
  /** Set by `POST /revisions/{id}/cancel`. */
  cancellation_requested_at: DateTime | null;
  /** Null while building. */
  build_finished_at: DateTime | null;
  /** Null unless deleted. */
  deleted_at: DateTime | null;
  /** Only for organizations with the retention feature. */
  retention?: Retention;
  /** Where it is routed; the deploy answer and list items may lack it. */
  timelines?: RevisionTimeline[];
}

/** A revision as listed by `GET /apps/{app}/revisions`. */
export type RevisionListItem = Omit<
  Revision,
  "failure_detail" | "layers" | "env_vars" | "config" | "timelines"
>;

/** Options of `GET /apps/{app}/revisions`. */
export interface ListRevisionsOptions extends ListOptions {
  /** Only revisions in this status. */
  status?: RevisionStatus;
}

/** Body of `PATCH /revisions/{id}`: retention is the only mutable property. */
export interface UpdateRevisionRequest {
  /** The garbage-collection policy. */
  retention?: Retention;
}

/** Body of `PUT /revisions/{id}/domains` (204): hostnames bound, additively. */
export interface AttachDomainsRequest {
  /** Hostnames on the production timeline. */
  production?: string[];
  /** Hostnames on the preview timeline. */
  preview?: string[];
}

/** A deployment target inside an app: production, a git branch, or a preview. */
export interface Timeline {
  /** E.g. `production`. */
  slug: string;
  /** E.g. `{"git.branch": "main"}`. */
  partition: Record<string, string>;
  /** Domains routed to it. */
  domains: { domain: string }[];
  /** Its app (in the SDK's type, not the spec's). */
  app?: { id: string; slug: string };
  /** Its env-var context (in the SDK's type, not the spec's). */
  context?: { slug: string };
}

// ---------------------------------------------------------------------------------------------
// Progress and build logs

/** The status of one progress stage. */
export type ProgressStageStatus =
  | "pending"
  | "skipped"
  | "running"
  | "succeeded"
  | "timed_out"
  | "cancelled"
  | "errored"
  | (string & {});

/**
 * One stage of a build. `start` is there from `running` on, `end` once it finished. A flat
 * shape rather than the SDK's union per status, so an unknown status still type-checks.
 */
export interface ProgressStage {
  /** The stage's status. */
  status: ProgressStageStatus;
  /** When it started. */
  start?: DateTime;
  /** When it ended. */
  end?: DateTime;
}

/** A stage that runs a command (`installing`, `building`, `predeploy`). */
export interface CommandProgressStage extends ProgressStage {
  /** The command, or null when there is none. */
  command: string | null;
}

/** A timeline whose routing another one is waiting for. */
export interface ProgressTimelineRef {
  /** The timeline's slug. */
  slug: string;
  /** Its partition. */
  partition: Record<string, string>;
}

/** Routing progress; `timeline_blocked` waits for other timelines' warmup. */
export interface RoutingProgressStage extends Omit<ProgressStage, "status"> {
  /** A stage status or `timeline_blocked`. */
  status: ProgressStageStatus | "timeline_blocked";
  /** With `timeline_blocked`: the timelines it waits for. */
  timelines?: ProgressTimelineRef[];
  /** With `timeline_blocked`: the stage waited for, e.g. `warmup`. */
  stage?: string;
}

/** Deployment of a revision to one timeline. */
export interface TimelineProgressStage extends ProgressStage {
  /** The timeline's slug. */
  slug: string;
  /** Its partition. */
  partition: Record<string, string>;
  /** Provisioning of each database (`engine`: `postgresql`, `denokv`, …). */
  databases: (ProgressStage & { engine: string })[];
  /** The predeploy command. */
  predeploy: CommandProgressStage;
  /** The boot check. */
  warmup?: ProgressStage;
  /** Binding the timeline's hostnames. */
  routing: RoutingProgressStage;
}

/** The deploying stage, per timeline. */
export interface DeployingProgressStage extends ProgressStage {
  /** One entry per timeline the revision deploys to. */
  timelines: TimelineProgressStage[];
}

/** One event of `GET /revisions/{id}/progress`: the whole state of the build so far. */
export interface RevisionProgress {
  /** Waiting for a build slot. */
  queued: ProgressStage;
  /** Fetching sources, restoring caches. */
  preparing: ProgressStage;
  /** The install command. */
  installing: CommandProgressStage;
  /** The build command. */
  building: CommandProgressStage;
  /** Upload and routing. */
  deploying: DeployingProgressStage;
}

/** A step of a build, as build logs name it. */
export type BuildStep = "preparing" | "installing" | "building" | "deploying" | (string & {});

/** A log severity. */
export type LogLevel = "debug" | "info" | "warn" | "error" | (string & {});

/** One line of `GET /revisions/{id}/build_logs`. */
export interface BuildLogEntry {
  /** When it was written. */
  timestamp: DateTime;
  /** Its severity. */
  level: LogLevel;
  /** The text. */
  message: string;
  /** The build step. */
  step?: BuildStep;
  /** The timeline's slug, for the `deploying` step. */
  timeline?: string;
}

/** Filters of `GET /revisions/{id}/build_logs`. */
export interface BuildLogsOptions {
  /** Only this step. */
  step?: BuildStep;
  /** Only this timeline (for `deploying`). */
  timeline?: string;
}

/** How a stream is requested: SSE (`text/event-stream`) or NDJSON (`application/x-ndjson`). */
export type StreamFormat = "sse" | "ndjson";

// ---------------------------------------------------------------------------------------------
// App logs and analytics

/** One runtime log line of an app. */
export interface RuntimeLog {
  /** When it was written. */
  timestamp: DateTime;
  /** Its severity. */
  level: LogLevel;
  /** The text. */
  message: string;
  /** The revision that wrote it. */
  revision_id?: string;
  /** Where the isolate ran, e.g. `us-east-1`. */
  region?: string;
  /** OpenTelemetry trace id. */
  trace_id?: string;
  /** OpenTelemetry span id. */
  span_id?: string;
}

/** Query of `GET /apps/{app}/logs`. */
export interface AppLogsOptions {
  /** Required by the API on every request. */
  start: DateTime;
  /** With it: pages of past logs; without it: a live stream. */
  end?: DateTime;
  /** Only this revision's logs. */
  revision_id?: string;
  /** Minimum severity. */
  level?: LogLevel;
  /** Full-text search. */
  query?: string;
  /** Page size, 1–1000 (default 100). */
  limit?: number;
}

/** One page of past app logs (`end` given). */
export interface RuntimeLogsPage {
  /** In chronological order. */
  logs: RuntimeLog[];
  /** The next page's cursor, or null on the last one. */
  next_cursor: string | null;
}

/** A column of the analytics table. */
export interface AnalyticsField {
  /** E.g. `time`, `request_count`, `cpu_seconds`; more may be added. */
  name: string;
  /** `time` or `number`. */
  type: "time" | "number" | (string & {});
}

/**
 * `GET /apps/{app}/analytics`: 15-minute UTC buckets as a table. Map columns by
 * `fields[].name`, never by position. Values may be strings or numbers.
 */
export interface Analytics {
  /** The columns. */
  fields: AnalyticsField[];
  /** One row per bucket, the first column being the bucket's start. */
  values: (string | number | null)[][];
}

/** Query of `GET /apps/{app}/analytics`; `[since, until)`. */
export interface AnalyticsOptions {
  /** Inclusive lower bound (RFC 3339). */
  since?: DateTime;
  /** Exclusive upper bound (RFC 3339). */
  until?: DateTime;
}

// ---------------------------------------------------------------------------------------------
// Domains

/** What a registered domain covers. */
export type DomainKind = "base_only" | "wildcard_only" | "base_and_wildcard" | (string & {});

/** A DNS record to publish (v2 shape; v1 had `{type, name, content}`). */
export interface DnsRecord {
  /** `@` for the apex, or a label. */
  name: string;
  /** The zone it belongs to. */
  base: string;
  /** E.g. `CNAME`, `A`, `TXT`. */
  type: string;
  /** The target. */
  value: string;
}

/** The state of the latest TLS provisioning attempt. */
export interface ProvisioningStatus {
  /** `manual` means an uploaded certificate. */
  code: "success" | "failed" | "pending" | "manual" | (string & {});
  /** Why, when `failed`. */
  message?: string;
}

/** A TLS certificate stored for a domain. */
export interface DomainCertificate {
  /** Its id. */
  id: string;
  /** `automatic` (ACME) or `manual` (uploaded). */
  kind: "automatic" | "manual" | (string & {});
  /** The hostnames it covers. */
  subject_alt_names: string[];
  /** E.g. `ec-p256`, `rsa-2048`. */
  private_key_algorithm:
    | "ec-p256"
    | "ec-p384"
    | "ec-p521"
    | "rsa-2048"
    | "rsa-3072"
    | "rsa-4096"
    | (string & {});
  /** Start of validity. */
  not_valid_before: DateTime;
  /** End of validity. */
  not_valid_after: DateTime;
  /** When it was stored. */
  created_at: DateTime;
}

/** A hostname registered to the organization. */
export interface Domain {
  /** A UUID. */
  id: string;
  /** The owner. */
  organization_id: string;
  /** The bare hostname, never `*.…` (see {@link kind}). */
  domain: string;
  /** What it covers. */
  kind: DomainKind;
  /** Published under `_acme-challenge.<domain>`. */
  verification_token: string;
  /** Whether ownership is confirmed. */
  is_validated: boolean;
  /**
   * Alternative record sets: publish every record of **one** inner array (e.g. the CNAME
   * option or the A/AAAA option). The `_acme-challenge` record is in each.
   */
  dns_records: DnsRecord[][];
  /** The latest TLS provisioning attempt. */
  provisioning_status: ProvisioningStatus;
  /** Stored certificates. */
  certificates: DomainCertificate[];
  /** When it was registered. */
  created_at: DateTime;
  /** When it last changed. */
  updated_at: DateTime;
}

/** Body of `POST /domains`. */
export interface CreateDomainRequest {
  /** The bare hostname, e.g. `shop.acme.com`. */
  domain: string;
  /** Default `base_only`. */
  kind?: DomainKind;
}

/** Options of `GET /domains`. */
export interface ListDomainsOptions extends ListOptions {
  /** Full-text filter. */
  search?: string;
}

/** Body of `POST /domains/{domain}/certificates`. */
export interface UploadCertificateRequest {
  /** PEM, full chain. */
  certificate: string;
  /** PEM; RSA-2048 or EC P-256 are the safe choices. */
  private_key: string;
}

/** `GET /domains/{domain}/certificates`: poll it while provisioning. */
export interface DomainCertificates {
  /** Stored certificates. */
  certificates: DomainCertificate[];
  /** The latest attempt. */
  provisioning_status: ProvisioningStatus;
}

// ---------------------------------------------------------------------------------------------
// Database instances (only creation is known from the references)

/** A database engine. */
export type DatabaseEngine = "postgresql" | "denokv" | "prisma" | (string & {});

/** Connection of a bring-your-own Postgres server, as sent on creation. */
export interface PostgresConnectionInput {
  /** Only `postgresql` can be created with a connection. */
  engine: "postgresql";
  /** The server's hostname. */
  hostname: string;
  /** The server's port. */
  port?: number | null;
  /** The user. */
  username?: string | null;
  /** The password; never returned. */
  password?: string | null;
  /** A CA certificate (PEM); null or omitted uses the bundled AWS RDS CA. */
  certificate?: string | null;
  /** For Prisma. */
  region?: string;
}

/** Body of `POST /database_instances`. */
export interface CreateDatabaseInstanceRequest {
  /** The instance's slug. */
  slug: string;
  /** How to reach the server. */
  connection: PostgresConnectionInput;
}

/** A timeline a database is bound to. */
export interface DatabaseTimeline {
  /** The app. */
  app: { slug: string };
  /** The timeline's slug, e.g. `production`. */
  timeline: string;
  /** Its partition. */
  partition: Record<string, string>;
}

/** One logical database on an instance. */
export interface Database {
  /** Its literal name. */
  name: string;
  /** Provisioning status. */
  status: "pending" | "creating" | "ready" | "failed" | "deleted" | (string & {});
  /** When it was created. */
  created_at: DateTime;
  /** Where it is bound. */
  timelines: DatabaseTimeline[];
}

/** A database instance; `connection` never carries credentials. */
export interface DatabaseInstance {
  /** A UUID. */
  id: string;
  /** Its slug. */
  slug: string;
  /** Its engine. */
  engine: DatabaseEngine;
  /** Non-secret connection metadata. */
  connection: {
    /** The engine. */
    engine: DatabaseEngine;
    /** The server. */
    hostname?: string;
    /** The port. */
    port?: number | null;
    /** The user. */
    username?: string | null;
    /** Whether a custom CA is set. */
    custom_certificate?: boolean;
    /** For Prisma. */
    project_id?: string;
    /** For Prisma. */
    region?: string;
  };
  /** Its databases. */
  databases: Database[];
  /** When it was created. */
  created_at: DateTime;
}
