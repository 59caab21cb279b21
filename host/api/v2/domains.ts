/**
 * v2 domains: register (`kind` base_only or wildcard_only), list, show, verify and delete an
 * organization's custom domains, upload or provision certificates and read them. The same
 * domains as v1's, in v2's shapes: `dns_records` as alternative record sets (publish every
 * record of one), snake case, 204/202 where v2 answers so. Names are attached to revisions
 * with `PUT /revisions/{id}/domains` (revisions.ts).
 *
 * @module
 */
import type { Hono } from "hono";
import { z } from "zod";
import {
  ensureVerified,
  newVerificationToken,
  normalizeDomainName,
  provisionCertificates,
  storeUploadedCertificate,
} from "../domains.ts";
import type { DomainServices } from "../v1/domains.ts";
import type { Store } from "../../store/store.ts";
import { isUuid } from "../../store/ids.ts";
import { parseBody, RequestError } from "../validate.ts";
import {
  invalid,
  notFound,
  paginate,
  param,
  SMALL_BODY_BYTES,
  type V2Context,
  type V2Deps,
  type V2Env,
} from "./common.ts";
import {
  createCustomDomain,
  customDomainCertificates,
  type CustomDomainRecord,
  deleteCustomDomain,
  DomainExistsError,
  findCustomDomain,
  getCustomDomain,
  listCustomDomains,
} from "../../store/custom_domains.ts";

const createDomainBody = z.strictObject({
  domain: z.string().min(1).max(300),
  kind: z.enum(["base_only", "wildcard_only", "base_and_wildcard"]).optional(),
});

const certificateBody = z.strictObject({
  certificate: z.string().min(1),
  private_key: z.string().min(1),
});

/** Registers the domain routes. */
export function registerDomainRoutes(
  v2: Hono<V2Env>,
  deps: V2Deps,
  services: DomainServices,
): void {
  const { store } = deps;
  const { baseDomain, verifier } = services;
  const json = (record: CustomDomainRecord) => domainJson(store, services, record);

  v2.get("/domains", (c) => {
    const search = param(c, "search");
    const all = listCustomDomains(store, c.get("organizationId"), {
      page: 1,
      limit: Number.MAX_SAFE_INTEGER,
      sort: "created_at",
      order: "asc",
    }).items.filter((record) => search === undefined || record.domain.includes(search));
    return c.json(paginate(c, all).map(json));
  });

  v2.post("/domains", async (c) => {
    const body = parseBody(createDomainBody, await deps.readJson(c, SMALL_BODY_BYTES));
    if (body.domain.trim().startsWith("*.")) {
      throw invalid('Give the bare name and kind "wildcard_only" instead of "*." in the domain');
    }
    if (body.kind === "base_and_wildcard") {
      throw invalid(
        'kind "base_and_wildcard" is not supported by the local host: register the name ' +
          'with "base_only" and again with "wildcard_only"',
      );
    }
    const bare = normalizeDomainName(body.domain, baseDomain);
    const domain = body.kind === "wildcard_only" ? `*.${bare}` : bare;
    deps.quotas.assertCanCreate(c.get("organizationId"), "domains");
    try {
      const record = createCustomDomain(
        store,
        c.get("organizationId"),
        domain,
        newVerificationToken(),
      );
      return c.json(json(record));
    } catch (error) {
      if (!(error instanceof DomainExistsError)) throw error;
      throw new RequestError(
        409,
        "DOMAIN_ALREADY_EXISTS",
        `Domain ${domain} is already registered in this organization`,
      );
    }
  });

  v2.get("/domains/:domain", (c) => c.json(json(ownDomainV2(c, store, c.req.param("domain")))));

  v2.delete("/domains/:domain", (c) => {
    deleteCustomDomain(store, ownDomainV2(c, store, c.req.param("domain")).id);
    return c.body(null, 204);
  });

  v2.post("/domains/:domain/verify", async (c) => {
    const record = ownDomainV2(c, store, c.req.param("domain"));
    return c.json(json(await ensureVerified(store, verifier, record)));
  });

  v2.get("/domains/:domain/certificates", (c) => {
    const record = ownDomainV2(c, store, c.req.param("domain"));
    const { certificates, provisioning_status } = domainJson(store, services, record);
    return c.json({ certificates, provisioning_status });
  });

  v2.post("/domains/:domain/certificates", async (c) => {
    let record = ownDomainV2(c, store, c.req.param("domain"));
    const body = parseBody(certificateBody, await deps.readJson(c, SMALL_BODY_BYTES));
    record = await ensureVerified(store, verifier, record);
    storeUploadedCertificate(store, record, {
      certificateChain: body.certificate,
      privateKey: body.private_key,
    });
    return c.json(json(getCustomDomain(store, record.id)!));
  });

  v2.post("/domains/:domain/certificates/provision", async (c) => {
    let record = ownDomainV2(c, store, c.req.param("domain"));
    record = await ensureVerified(store, verifier, record);
    await provisionCertificates(store, services.ca, record);
    // Deploy provisions in the background and answers at once; here it is already done.
    return c.json({ accepted: true }, 202);
  });
}

/** The caller's domain by id or by name (a wildcard by its bare name or `*.name`). */
function ownDomainV2(c: V2Context, store: Store, idOrName: string): CustomDomainRecord {
  const organizationId = c.get("organizationId");
  const name = idOrName.toLowerCase();
  const record = isUuid(name)
    ? getCustomDomain(store, name)
    : findCustomDomain(store, organizationId, name) ??
      findCustomDomain(store, organizationId, `*.${name}`);
  if (!record || record.organizationId !== organizationId) throw notFound("domain", idOrName);
  return record;
}

/** A domain as v2 answers it. */
export function domainJson(
  store: Store,
  services: DomainServices,
  record: CustomDomainRecord,
): Record<string, unknown> {
  const wildcard = record.domain.startsWith("*.");
  const bare = wildcard ? record.domain.slice(2) : record.domain;
  const records = services.verifier.dnsRecords(record.domain, record.token);
  const toV2 = (r: { type: string; name: string; content: string }) => ({
    name: r.name,
    base: bare,
    type: r.type,
    value: r.content,
  });
  const challenge = records.filter((r) => r.type === "CNAME").map(toV2);
  const addresses = records.filter((r) => r.type !== "CNAME").map(toV2);
  const manual = record.provisioningStatus.code === "manual";
  return {
    id: record.id,
    organization_id: record.organizationId,
    domain: bare,
    kind: wildcard ? "wildcard_only" : "base_only",
    verification_token: record.token,
    is_validated: record.verifiedAt !== null,
    // One option here: the addresses of this host, with the ACME-style challenge record.
    dns_records: [[...addresses, ...challenge]],
    provisioning_status: record.provisioningStatus,
    certificates: customDomainCertificates(store, record.id).map((certificate) => ({
      id: `${record.id}-${certificate.cipher}`,
      kind: manual ? "manual" : "automatic",
      subject_alt_names: [record.domain],
      private_key_algorithm: certificate.cipher === "ec" ? "ec-p256" : "rsa-2048",
      not_valid_before: certificate.createdAt,
      not_valid_after: certificate.expiresAt,
      created_at: certificate.createdAt,
    })),
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}
