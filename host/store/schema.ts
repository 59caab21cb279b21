/**
 * The store's SQLite schema, as the migrations that build it: `Store` applies the ones a
 * database has not had yet, in order, counting them in `PRAGMA user_version`.
 *
 * @module
 */

/**
 * Schema migrations, applied in order; `PRAGMA user_version` counts the applied ones.
 * Append only: never edit a migration that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );

  -- Only a SHA-256 of each token is kept, never the token.
  CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
  );

  CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX projects_by_organization ON projects(organization_id);

  CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    description TEXT NOT NULL DEFAULT '',
    entry_point_url TEXT NOT NULL,
    env_vars TEXT NOT NULL DEFAULT '{}',
    databases TEXT NOT NULL DEFAULT '{}',
    domains TEXT,
    import_map_url TEXT,
    lock_file_url TEXT,
    compiler_options TEXT,
    request_timeout INTEGER,
    permissions TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX deployments_by_project ON deployments(project_id, created_at);
  CREATE INDEX deployments_by_status ON deployments(status);

  CREATE TABLE deployment_assets (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('file', 'symlink')),
    git_sha1 TEXT,
    target TEXT,
    PRIMARY KEY (deployment_id, path),
    CHECK ((kind = 'file') = (git_sha1 IS NOT NULL AND target IS NULL)),
    CHECK ((kind = 'symlink') = (target IS NOT NULL AND git_sha1 IS NULL))
  );
  CREATE INDEX deployment_assets_by_blob ON deployment_assets(git_sha1, deployment_id);

  CREATE TABLE build_logs (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (deployment_id, seq)
  );

  -- The blobs each organization has uploaded: reuse by hash is scoped to the uploader.
  CREATE TABLE org_blobs (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    git_sha1 TEXT NOT NULL,
    PRIMARY KEY (organization_id, git_sha1)
  );
  CREATE INDEX org_blobs_by_blob ON org_blobs(git_sha1);

  -- Which deployment serves a host name: one row per name, so routing is one index lookup.
  CREATE TABLE domain_bindings (
    domain TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE
  );
  CREATE INDEX domain_bindings_by_deployment ON domain_bindings(deployment_id);
  `,
  // KV databases, and the domains a deployment asked for (placeholders kept), which a
  // redeploy asks for again.
  `
  CREATE TABLE kv_databases (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX kv_databases_by_organization ON kv_databases(organization_id, created_at);

  ALTER TABLE deployments ADD COLUMN requested_domains TEXT;
  `,
  // App logs (host/tenant/app_logs.ts) and usage in 15-minute buckets (host/tenant/usage.ts).
  `
  CREATE TABLE app_logs (
    id INTEGER PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    time INTEGER NOT NULL, -- microseconds since the Unix epoch
    level TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warning', 'error')),
    message TEXT NOT NULL
  );
  CREATE INDEX app_logs_by_deployment ON app_logs(deployment_id, time, id);
  CREATE INDEX app_logs_by_time ON app_logs(time);

  -- No foreign key to projects: usage outlives a deleted project, for billing.
  CREATE TABLE usage_buckets (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    bucket_start INTEGER NOT NULL, -- Unix seconds, a multiple of 900
    request_count INTEGER NOT NULL DEFAULT 0,
    cpu_seconds REAL NOT NULL DEFAULT 0,
    uptime_seconds REAL NOT NULL DEFAULT 0,
    max_rss_memory_bytes INTEGER NOT NULL DEFAULT 0,
    network_ingress_bytes INTEGER NOT NULL DEFAULT 0,
    network_egress_bytes INTEGER NOT NULL DEFAULT 0,
    kv_read_count INTEGER NOT NULL DEFAULT 0,
    kv_write_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, bucket_start)
  );
  CREATE INDEX usage_buckets_by_organization ON usage_buckets(organization_id, bucket_start);
  `,
  // Custom domains and their TLS certificates (host/api/v1/domains.ts).
  `
  -- Several organizations may register one name; only one may have it verified at a time.
  CREATE TABLE custom_domains (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    token TEXT NOT NULL,
    verified_at TEXT,
    provisioning_status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (organization_id, domain)
  );
  CREATE UNIQUE INDEX custom_domains_verified ON custom_domains(domain)
    WHERE verified_at IS NOT NULL;

  -- At most one certificate per key type; the private key is only ever read to serve TLS.
  CREATE TABLE domain_certificates (
    domain_id TEXT NOT NULL REFERENCES custom_domains(id) ON DELETE CASCADE,
    cipher TEXT NOT NULL CHECK (cipher IN ('rsa', 'ec')),
    certificate_chain TEXT NOT NULL,
    private_key TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (domain_id, cipher)
  );
  `,
  // The v2 API (host/api/v2/): organization slugs, app settings (labels, config, variables),
  // layers, and the revision fields v1 has no place for.
  `
  ALTER TABLE organizations ADD COLUMN slug TEXT;
  UPDATE organizations SET slug = CASE
    WHEN name NOT GLOB '*[^a-z0-9-]*' AND length(name) BETWEEN 3 AND 32
      AND (SELECT count(*) FROM organizations o WHERE o.name = organizations.name) = 1
    THEN name ELSE 'org-' || substr(replace(id, '-', ''), 1, 12) END;
  CREATE UNIQUE INDEX organizations_by_slug ON organizations(slug);

  ALTER TABLE projects ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE projects ADD COLUMN config TEXT;
  -- [{id, key, value, secret, contexts}]
  ALTER TABLE projects ADD COLUMN env_vars TEXT NOT NULL DEFAULT '[]';

  CREATE TABLE layers (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    env_vars TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (organization_id, slug)
  );
  -- No cascade from the used layer: a layer in use cannot be deleted (409).
  CREATE TABLE layer_bases (
    layer_id TEXT NOT NULL REFERENCES layers(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    base_id TEXT NOT NULL REFERENCES layers(id),
    PRIMARY KEY (layer_id, position)
  );
  CREATE INDEX layer_bases_by_base ON layer_bases(base_id);
  CREATE TABLE app_layers (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    layer_id TEXT NOT NULL REFERENCES layers(id),
    PRIMARY KEY (project_id, position)
  );
  CREATE INDEX app_layers_by_layer ON app_layers(layer_id);

  ALTER TABLE deployments ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE deployments ADD COLUMN config TEXT;
  ALTER TABLE deployments ADD COLUMN layers TEXT; -- layer ids; NULL: the app's layers
  ALTER TABLE deployments ADD COLUMN preview INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE deployments ADD COLUMN failure_reason TEXT;
  ALTER TABLE deployments ADD COLUMN failure_detail TEXT;
  ALTER TABLE deployments ADD COLUMN cancellation_requested_at TEXT;
  ALTER TABLE deployments ADD COLUMN build_started_at TEXT;
  ALTER TABLE deployments ADD COLUMN build_finished_at TEXT;
  `,
  // Bytes per organization's blob, for the storage quota (host/api/quotas.ts).
  `
  ALTER TABLE org_blobs ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
  `,
  // Deno.cron: whether a deployment may run jobs, and the jobs it registered (host/tenant/cron.ts).
  `
  ALTER TABLE deployments ADD COLUMN enable_cron INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE deployment_crons (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    schedule TEXT NOT NULL,
    PRIMARY KEY (deployment_id, name)
  );
  `,
  // v2's config.runtime.args: the arguments of the deployment's program (Deno.args).
  `
  ALTER TABLE deployments ADD COLUMN runtime_args TEXT NOT NULL DEFAULT '[]';
  `,
];
