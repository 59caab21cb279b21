/**
 * Custom-domain rules shared by the API routes, the router and the HTTPS server: which names
 * an organization may register, verify and attach, and the API's Domain object.
 *
 * A name outside the base domain is attachable by an organization that registered and
 * verified it (or the wildcard one level up). Several organizations may register one name,
 * but only one can have it verified at a time, and only that one's deployments are served
 * under it.
 *
 * @module
 */
import type { Domain } from "../../lib/types.ts";
import type { DomainVerifier } from "./domain_verify.ts";
import type { Store } from "../store/store.ts";
import { CertificateError, checkCertificate, type LocalCa } from "../edge/certs.ts";
import { isHostName, RequestError } from "./validate.ts";
import {
  customDomainCertificates,
  type CustomDomainRecord,
  DomainTakenError,
  findCustomDomain,
  markCustomDomainVerified,
  setCustomDomainCertificates,
  setCustomDomainStatus,
} from "../store/custom_domains.ts";

/**
 * Normalises a domain to register: lower-case, no trailing dot, internationalised names in
 * punycode, an optional leading `*.` for a wildcard.
 *
 * @throws {RequestError} 400 `invalidDomain` for a malformed name, an IP address, a bare
 *   top-level name, or a name under the host's base domain (those are the host's own).
 */
export function normalizeDomainName(input: string, baseDomain: string): string {
  const invalid = (why: string) =>
    new RequestError(400, "invalidDomain", `Invalid domain "${input}": ${why}`);
  const trimmed = input.trim().toLowerCase().replace(/\.$/, "");
  const wildcard = trimmed.startsWith("*.");
  let name = wildcard ? trimmed.slice(2) : trimmed;
  try {
    name = new URL(`http://${name}/`).hostname; // IDN → punycode
  } catch {
    throw invalid("it is not a host name");
  }
  if (!isHostName(name)) throw invalid("it is not a host name");
  if (/^[\d.]+$/.test(name)) throw invalid("an IP address is not a domain");
  if (!name.includes(".")) throw invalid("give a name with at least two labels, e.g. example.com");
  if (isUnderBaseDomain(name, baseDomain)) {
    throw invalid(
      `names under ${baseDomain} are the host's own; deployments get them without registering`,
    );
  }
  return wildcard ? `*.${name}` : name;
}

/** Whether `name` is the base domain or under it. */
export function isUnderBaseDomain(name: string, baseDomain: string): boolean {
  const base = baseDomain.toLowerCase();
  return name === base || name.endsWith(`.${base}`);
}

/**
 * Checks that the organization may attach `name` (already resolved by `resolveDomains`,
 * which polices names under the base domain): outside the base domain it must be registered
 * and verified by the organization — the name itself or the wildcard a level up — and no
 * other organization's deployment may hold it.
 *
 * @throws {RequestError} 400 `domainNotRegistered` / `domainNotVerified`, 409 `domainTaken`.
 */
export function assertAttachable(
  store: Store,
  organizationId: string,
  name: string,
  baseDomain: string,
): void {
  if (!isUnderBaseDomain(name, baseDomain)) {
    const registered = [name, wildcardParent(name)]
      .flatMap((candidate) => candidate ? [findCustomDomain(store, organizationId, candidate)] : [])
      .filter((record) => record !== undefined);
    if (registered.length === 0) {
      throw new RequestError(
        400,
        "domainNotRegistered",
        `Domain ${name} is not registered in this organization: add it (POST ` +
          `/organizations/${organizationId}/domains) and verify it before attaching it`,
      );
    }
    if (!registered.some((record) => record.verifiedAt !== null)) {
      throw new RequestError(
        400,
        "domainNotVerified",
        `Domain ${registered[0].domain} is not verified: create its DNS records and verify it ` +
          `(POST /domains/${registered[0].id}/verify) before attaching ${name}`,
      );
    }
  }
  const holder = store.domainOrganization(name);
  if (holder !== undefined && holder !== organizationId) {
    throw new RequestError(
      409,
      "domainTaken",
      `Domain ${name} is attached to a deployment of another organization`,
    );
  }
}

/**
 * Verifies the domain unless it already is (see {@link DomainVerifier.verify}).
 *
 * @throws {RequestError} 400 `domainNotVerified` listing what DNS lacks, 409 `domainTaken`
 *   when another organization has the name verified.
 */
export async function ensureVerified(
  store: Store,
  verifier: DomainVerifier,
  record: CustomDomainRecord,
): Promise<CustomDomainRecord> {
  if (record.verifiedAt !== null) return record;
  const result = await verifier.verify(record.domain, record.token);
  if (!result.verified) {
    throw new RequestError(
      400,
      "domainNotVerified",
      `Domain ${record.domain} could not be verified: ${result.problems.join("; ")}. ` +
        "Create the domain's dnsRecords at your DNS provider; changes can take a while to " +
        "propagate, so try again later",
    );
  }
  try {
    return markCustomDomainVerified(store, record.id) ?? record;
  } catch (error) {
    if (!(error instanceof DomainTakenError)) throw error;
    throw new RequestError(
      409,
      "domainTaken",
      `Domain ${record.domain} is verified by another organization; it must remove it first`,
    );
  }
}

/** The API's Domain object. `projectId`/`deploymentId` appear only when the name is attached. */
export function domainJson(
  store: Store,
  verifier: DomainVerifier,
  record: CustomDomainRecord,
): Domain {
  const binding = store.domainOrganization(record.domain) === record.organizationId
    ? store.domainBinding(record.domain)
    : undefined;
  return {
    id: record.id,
    organizationId: record.organizationId,
    domain: record.domain,
    token: record.token,
    isValidated: record.verifiedAt !== null,
    certificates: customDomainCertificates(store, record.id).map((certificate) => ({
      cipher: certificate.cipher,
      expiresAt: certificate.expiresAt,
      createdAt: certificate.createdAt,
      updatedAt: certificate.updatedAt,
    })),
    provisioningStatus: record.provisioningStatus,
    ...(binding ? { projectId: binding.projectId, deploymentId: binding.deploymentId } : {}),
    dnsRecords: verifier.dnsRecords(record.domain, record.token),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** A verification token: 24 hex digits, like Deploy's `6a30d42ce0da4d5013b5e39c`. */
export function newVerificationToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `shop.example.net` → `*.example.net`; `undefined` for a name with fewer than 3 labels. */
function wildcardParent(name: string): string | undefined {
  const labels = name.split(".");
  return labels.length >= 3 ? `*.${labels.slice(1).join(".")}` : undefined;
}

/**
 * Stores an uploaded certificate of `record` (checked against its name); a first upload
 * replaces provisioned certificates, later ones replace their own cipher.
 *
 * @throws {RequestError} 400 `invalidCertificate` naming what is wrong.
 */
export function storeUploadedCertificate(
  store: Store,
  record: CustomDomainRecord,
  upload: { certificateChain: string; privateKey: string },
): void {
  let checked;
  try {
    checked = checkCertificate({ ...upload, domain: record.domain });
  } catch (error) {
    if (!(error instanceof CertificateError)) throw error;
    throw new RequestError(400, "invalidCertificate", error.message);
  }
  const replaceAll = record.provisioningStatus.code !== "manual";
  setCustomDomainCertificates(store, record.id, [checked], { code: "manual" }, replaceAll);
}

/**
 * Issues `record` one EC and one RSA certificate from the local CA (where Deploy uses Let's
 * Encrypt) and records the provisioning status. Returns why it failed, or `undefined`.
 */
export async function provisionCertificates(
  store: Store,
  ca: () => Promise<LocalCa>,
  record: CustomDomainRecord,
): Promise<string | undefined> {
  try {
    const authority = await ca();
    const certificates = [
      await authority.issue(record.domain, "ec"),
      await authority.issue(record.domain, "rsa"),
    ];
    setCustomDomainCertificates(store, record.id, certificates, { code: "success" }, true);
    return undefined;
  } catch (error) {
    const message = error instanceof CertificateError ? error.message : String(error);
    setCustomDomainStatus(store, record.id, { code: "failed", message });
    return message;
  }
}
