/**
 * Custom domains of organizations and their TLS certificates: registered, verified (one
 * organization at a time per name), covered by wildcards one level deep, deleted with the
 * names they covered detached.
 *
 * @module
 */
import type { ProvisioningStatus } from "../../lib/types.ts";
import { newUuid } from "./ids.ts";
import {
  escapeLike,
  isUniqueViolation,
  page,
  type Row,
  sortColumn,
  type SqlValue,
  timestamp,
} from "./sql.ts";
import { normalizeDomain, wildcardParent } from "./names.ts";
import type { ListQuery, Page, Store } from "./store.ts";

// ---- custom domains ----

/** A custom domain as stored (the API's Domain is built from it, its certificates and bindings). */
export interface CustomDomainRecord {
  id: string;
  organizationId: string;
  /** Lower-case, no trailing dot; a wildcard starts with `*.`. */
  domain: string;
  token: string;
  /** When the organization proved it controls the name; `null` until then. */
  verifiedAt: string | null;
  provisioningStatus: ProvisioningStatus;
  createdAt: string;
  updatedAt: string;
}

/** A certificate to store for a custom domain. */
export interface NewCertificate {
  cipher: "rsa" | "ec";
  /** PEM, the leaf first. */
  certificateChain: string;
  /** PEM (PKCS#8). */
  privateKey: string;
  expiresAt: string;
}

/** A stored certificate of a custom domain. */
export interface CertificateRecord extends NewCertificate {
  createdAt: string;
  updatedAt: string;
}

/** The organization has already registered this domain. */
export class DomainExistsError extends Error {
  /** The name registered twice. */
  readonly domain: string;

  /** Creates the error for `domain`. */
  constructor(domain: string) {
    super(`The domain ${domain} is already registered`);
    this.name = "DomainExistsError";
    this.domain = domain;
  }
}

/** Another organization has this domain verified. */
export class DomainTakenError extends Error {
  /** The name another organization holds. */
  readonly domain: string;

  /** Creates the error for `domain`. */
  constructor(domain: string) {
    super(`The domain ${domain} is verified by another organization`);
    this.name = "DomainTakenError";
    this.domain = domain;
  }
}

const CUSTOM_DOMAIN_SORT_COLUMNS: Record<string, string> = {
  domain: "domain",
  created_at: "created_at",
  updated_at: "updated_at",
};

/** Whether a registered domain (maybe a wildcard) covers host name `name`. */
function coveredBy(registered: string, name: string): boolean {
  return registered === name || wildcardParent(name) === registered;
}

/** Registers a custom domain. Throws {@link DomainExistsError} when the organization has it. */
export function createCustomDomain(
  store: Store,
  organizationId: string,
  domain: string,
  token: string,
): CustomDomainRecord {
  const now = timestamp();
  const record: CustomDomainRecord = {
    id: newUuid(),
    organizationId,
    domain,
    token,
    verifiedAt: null,
    provisioningStatus: { code: "pending" },
    createdAt: now,
    updatedAt: now,
  };
  try {
    run(
      store,
      `INSERT INTO custom_domains (id, organization_id, domain, token, verified_at,
         provisioning_status, created_at, updated_at)
       VALUES (?, ?, ?, ?, NULL, ?, ?, ?)`,
      record.id,
      organizationId,
      domain,
      token,
      JSON.stringify(record.provisioningStatus),
      now,
      now,
    );
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainExistsError(domain);
    throw error;
  }
  return record;
}

/** The custom domain `id`, if it exists. */
export function getCustomDomain(store: Store, id: string): CustomDomainRecord | undefined {
  const row = get(store, "SELECT * FROM custom_domains WHERE id = ?", id);
  return row ? toCustomDomain(row) : undefined;
}

/** The organization's custom domain with exactly this name, if registered. */
export function findCustomDomain(
  store: Store,
  organizationId: string,
  domain: string,
): CustomDomainRecord | undefined {
  const row = get(
    store,
    "SELECT * FROM custom_domains WHERE organization_id = ? AND domain = ?",
    organizationId,
    normalizeDomain(domain),
  );
  return row ? toCustomDomain(row) : undefined;
}

/**
 * The organization's custom domains, one page of them. `q` matches part of the name;
 * `sort` is `domain`, `created_at` or `updated_at`.
 */
export function listCustomDomains(
  store: Store,
  organizationId: string,
  query: ListQuery,
): Page<CustomDomainRecord> {
  const column = sortColumn(CUSTOM_DOMAIN_SORT_COLUMNS, query.sort);
  const where = ["organization_id = ?"];
  const params: SqlValue[] = [organizationId];
  if (query.q) {
    where.push("domain LIKE ? ESCAPE '\\'");
    params.push(`%${escapeLike(query.q.toLowerCase())}%`);
  }
  return page(store.database, "custom_domains", where, params, column, query, toCustomDomain);
}

/**
 * The registered domain that covers host name `name`: the name itself, else the wildcard a
 * level up (`*.example.net` covers `shop.example.net`, not `example.net` nor `a.b.example.net`).
 * With `organizationId`, that organization's registration (verified or not); without it,
 * the verified one, whoever verified it.
 */
export function customDomainCovering(
  store: Store,
  name: string,
  organizationId?: string,
): CustomDomainRecord | undefined {
  const host = normalizeDomain(name);
  for (const candidate of [host, wildcardParent(host)]) {
    if (candidate === undefined) continue;
    const row = organizationId === undefined
      ? get(
        store,
        "SELECT * FROM custom_domains WHERE domain = ? AND verified_at IS NOT NULL",
        candidate,
      )
      : get(
        store,
        "SELECT * FROM custom_domains WHERE domain = ? AND organization_id = ?",
        candidate,
        organizationId,
      );
    if (row) return toCustomDomain(row);
  }
  return undefined;
}

/**
 * Marks a custom domain verified (a no-op when it is). Throws {@link DomainTakenError} when
 * another organization has the same name verified.
 */
export function markCustomDomainVerified(store: Store, id: string): CustomDomainRecord | undefined {
  try {
    run(
      store,
      `UPDATE custom_domains SET verified_at = ?1, updated_at = ?1
       WHERE id = ?2 AND verified_at IS NULL`,
      timestamp(),
      id,
    );
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    throw new DomainTakenError(getCustomDomain(store, id)?.domain ?? id);
  }
  return getCustomDomain(store, id);
}

/** Records where the domain's certificate provisioning stands. */
export function setCustomDomainStatus(store: Store, id: string, status: ProvisioningStatus): void {
  run(
    store,
    "UPDATE custom_domains SET provisioning_status = ?, updated_at = ? WHERE id = ?",
    JSON.stringify(status),
    timestamp(),
    id,
  );
}

/**
 * Stores certificates of a domain, one per cipher, and the provisioning status they give.
 * `replaceAll` drops the other ciphers' certificates too (a provisioned pair replaces
 * uploaded ones and the other way round); otherwise only the same cipher is replaced.
 */
export function setCustomDomainCertificates(
  store: Store,
  id: string,
  certificates: NewCertificate[],
  status: ProvisioningStatus,
  replaceAll: boolean,
): void {
  store.transaction(() => {
    const now = timestamp();
    if (replaceAll) run(store, "DELETE FROM domain_certificates WHERE domain_id = ?", id);
    for (const certificate of certificates) {
      run(
        store,
        "DELETE FROM domain_certificates WHERE domain_id = ? AND cipher = ?",
        id,
        certificate.cipher,
      );
      run(
        store,
        `INSERT INTO domain_certificates (domain_id, cipher, certificate_chain, private_key,
           expires_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        id,
        certificate.cipher,
        certificate.certificateChain,
        certificate.privateKey,
        certificate.expiresAt,
        now,
        now,
      );
    }
    setCustomDomainStatus(store, id, status);
  });
}

/** The domain's certificates with their PEM, EC first (preferred when serving). */
export function customDomainCertificates(store: Store, id: string): CertificateRecord[] {
  return all(
    store,
    "SELECT * FROM domain_certificates WHERE domain_id = ? ORDER BY cipher = 'ec' DESC",
    id,
  ).map((row) => ({
    cipher: row.cipher as CertificateRecord["cipher"],
    certificateChain: String(row.certificate_chain),
    privateKey: String(row.private_key),
    expiresAt: String(row.expires_at),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  }));
}

/**
 * Deletes a custom domain and detaches the names it covered from the organization's
 * deployments, unless another of its verified domains still covers them.
 */
export function deleteCustomDomain(store: Store, id: string): void {
  store.transaction(() => {
    const record = getCustomDomain(store, id);
    if (!record) return;
    run(store, "DELETE FROM custom_domains WHERE id = ?", id);
    const bindings = all(
      store,
      `SELECT b.domain, b.deployment_id FROM domain_bindings b
       JOIN deployments d ON d.id = b.deployment_id
       JOIN projects p ON p.id = d.project_id
       WHERE p.organization_id = ? AND (b.domain = ? OR b.domain LIKE ? ESCAPE '\\')`,
      record.organizationId,
      record.domain,
      record.domain.startsWith("*.") ? `%${escapeLike(record.domain.slice(1))}` : record.domain,
    );
    for (const binding of bindings) {
      const name = String(binding.domain);
      if (!coveredBy(record.domain, name)) continue;
      const still = customDomainCovering(store, name, record.organizationId);
      if (still?.verifiedAt) continue;
      store.detachDomain(String(binding.deployment_id), name);
    }
  });
}

function run(store: Store, sql: string, ...params: SqlValue[]): void {
  store.database.prepare(sql).run(...params);
}

function get(store: Store, sql: string, ...params: SqlValue[]): Row | undefined {
  return store.database.prepare(sql).get(...params) as Row | undefined;
}

function all(store: Store, sql: string, ...params: SqlValue[]): Row[] {
  return store.database.prepare(sql).all(...params) as Row[];
}

function toCustomDomain(row: Row): CustomDomainRecord {
  return {
    id: String(row.id),
    organizationId: String(row.organization_id),
    domain: String(row.domain),
    token: String(row.token),
    verifiedAt: row.verified_at === null ? null : String(row.verified_at),
    provisioningStatus: JSON.parse(String(row.provisioning_status)) as ProvisioningStatus,
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}
