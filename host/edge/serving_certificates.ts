/**
 * Which certificate the HTTPS port presents for a server name: a verified custom domain's
 * own (uploaded or provisioned; EC preferred), or, for a name under the base domain that a
 * deployment serves, one the local CA issues on first use and keeps in memory.
 *
 * @module
 */
import type { LocalCa } from "./certs.ts";
import type { ServedCertificate } from "./https.ts";
import type { Store } from "../store/store.ts";
import { customDomainCertificates, customDomainCovering } from "../store/custom_domains.ts";

/** Options of {@link servingCertificates}. */
export interface ServingCertificatesOptions {
  store: Store;
  baseDomain: string;
  /** The local CA, for names under the base domain. */
  ca: () => Promise<LocalCa>;
}

/** Names under the base domain whose certificates are kept in memory. */
const MAX_CACHED = 1000;
/** Reissue a base-domain certificate when it has less than this left (Let's Encrypt's rule). */
const RENEW_BEFORE_MS = 30 * 24 * 3600_000;

/** Returns the lookup the HTTPS listener calls on each handshake. */
export function servingCertificates(
  options: ServingCertificatesOptions,
): (serverName: string) => Promise<ServedCertificate | undefined> {
  const { store } = options;
  const suffix = `.${options.baseDomain}`;
  const issued = new Map<string, Promise<ServedCertificate & { expiresAt: string }>>();

  const issue = (name: string) => {
    let entry = issued.get(name);
    if (!entry) {
      entry = options.ca().then((ca) => ca.issue(name, "ec")).then((certificate) => ({
        cacheKey: `base:${name}:${certificate.expiresAt}`,
        cert: certificate.certificateChain,
        key: certificate.privateKey,
        expiresAt: certificate.expiresAt,
      }));
      entry.catch(() => issued.delete(name)); // try again on the next handshake
      if (issued.size >= MAX_CACHED) issued.delete(issued.keys().next().value!);
      issued.set(name, entry);
    }
    return entry;
  };

  return async (serverName) => {
    const name = serverName.toLowerCase().replace(/\.$/, "");
    if (name.endsWith(suffix)) {
      // Only names a deployment serves: nobody gets the CA to sign arbitrary names.
      if (!store.findDeploymentByDomain(name)) return undefined;
      let certificate = await issue(name);
      if (Date.parse(certificate.expiresAt) - Date.now() < RENEW_BEFORE_MS) {
        issued.delete(name);
        certificate = await issue(name);
      }
      return certificate;
    }
    const domain = customDomainCovering(store, name);
    const [certificate] = domain ? customDomainCertificates(store, domain.id) : [];
    if (!domain || !certificate) return undefined;
    return {
      cacheKey: `${domain.id}:${certificate.cipher}:${certificate.updatedAt}`,
      cert: certificate.certificateChain,
      key: certificate.privateKey,
    };
  };
}
