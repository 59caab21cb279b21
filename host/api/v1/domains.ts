/**
 * Custom-domain routes (notes A3 #23–#32, A7): register, list, show, verify and delete an
 * organization's domains, give them TLS certificates (uploaded, or provisioned by the host's
 * local CA where Deploy uses Let's Encrypt), and attach host names to deployments with
 * `PUT/DELETE /deployments/{id}/domains/{domain}` (or the deprecated `PATCH /domains/{id}`).
 *
 * Unlike Deploy, the local host does not require a certificate before a custom domain is
 * attached: it serves plain HTTP on its main port for every attached name, and HTTPS (on the
 * HTTPS port) once the domain has a certificate.
 *
 * @module
 */
import type { Hono } from "hono";
import type { QuotaGuard } from "../quotas.ts";
import type { ApiEngine } from "../engine.ts";
import { movingProduction } from "../production_context.ts";
import { z } from "zod";
import { type ApiEnv, listAnswer, readJson, SMALL_BODY_BYTES } from "../http.ts";
import { CertificateError, type LocalCa } from "../../edge/certs.ts";
import {
  assertAttachable,
  domainJson,
  ensureVerified,
  newVerificationToken,
  normalizeDomainName,
  provisionCertificates,
  storeUploadedCertificate,
} from "../domains.ts";
import { DomainVerifier, hostAddresses } from "../domain_verify.ts";
import type { DeploymentRecord, Store } from "../../store/store.ts";
import { newerHolder, previewNames, productionNames } from "../../build/builder.ts";
import { parseBody, RequestError, resolveDomains } from "../validate.ts";
import { ownDeployment, ownDomain, ownOrganization } from "./ownership.ts";
import {
  createCustomDomain,
  type CustomDomainRecord,
  deleteCustomDomain,
  DomainExistsError,
  listCustomDomains,
} from "../../store/custom_domains.ts";

/** What the domain routes need besides the store. */
export interface DomainServices {
  /** The host's base domain, e.g. `localhost`. */
  baseDomain: string;
  /** Computes DNS records and verifies them. */
  verifier: DomainVerifier;
  /** The local CA, created on first use. */
  ca(): Promise<LocalCa>;
}

/**
 * Services for an API without a configured host: DNS verification through the system
 * resolver with loopback addresses, and no CA (provisioning fails with a clear message).
 */
export function defaultDomainServices(baseDomain: string): DomainServices {
  return {
    baseDomain,
    verifier: new DomainVerifier({ baseDomain, addresses: hostAddresses("127.0.0.1") }),
    ca: () => Promise.reject(new CertificateError("this API has no local certificate authority")),
  };
}

const createDomainBody = z.strictObject({ domain: z.string().min(1).max(300) });
const updateDomainBody = z.strictObject({ deploymentId: z.string().nullish() });
const certificateBody = z.strictObject({
  privateKey: z.string().min(1),
  certificateChain: z.string().min(1),
});

/** Adds the domain routes to the API app. */
export function registerDomainRoutes(
  app: Hono<ApiEnv>,
  store: Store,
  services: DomainServices,
  quotas: QuotaGuard,
  engine: ApiEngine,
): void {
  const { baseDomain, verifier } = services;
  const json = (record: CustomDomainRecord) => domainJson(store, verifier, record);

  app.get("/v1/organizations/:organizationId/domains", (c) => {
    const organizationId = ownOrganization(c, store, c.req.param("organizationId")).id;
    return listAnswer(
      c,
      { sorts: ["domain", "created_at", "updated_at"], defaultSort: "updated_at" },
      (query) => listCustomDomains(store, organizationId, query),
      json,
    );
  });

  app.post("/v1/organizations/:organizationId/domains", async (c) => {
    const organizationId = ownOrganization(c, store, c.req.param("organizationId")).id;
    const body = parseBody(createDomainBody, await readJson(c, SMALL_BODY_BYTES));
    const domain = normalizeDomainName(body.domain, baseDomain);
    quotas.assertCanCreate(organizationId, "domains");
    try {
      return c.json(
        json(createCustomDomain(store, organizationId, domain, newVerificationToken())),
      );
    } catch (error) {
      if (!(error instanceof DomainExistsError)) throw error;
      throw new RequestError(
        409,
        "domainAlreadyExists",
        `Domain ${domain} is already registered in this organization`,
      );
    }
  });

  app.get("/v1/domains/:domainId", (c) => {
    return c.json(json(ownDomain(c, store, c.req.param("domainId"))));
  });

  app.delete("/v1/domains/:domainId", (c) => {
    deleteCustomDomain(store, ownDomain(c, store, c.req.param("domainId")).id);
    return c.body(null, 200);
  });

  // Deprecated in favour of PUT /deployments/{id}/domains/{domain}; attaches the name itself.
  app.patch("/v1/domains/:domainId", async (c) => {
    let record = ownDomain(c, store, c.req.param("domainId"));
    const body = parseBody(updateDomainBody, await readJson(c, SMALL_BODY_BYTES));
    if (body.deploymentId === undefined) return c.body(null, 200);
    if (body.deploymentId === null) {
      const binding = store.domainBinding(record.domain);
      if (binding && store.domainOrganization(record.domain) === record.organizationId) {
        store.detachDomain(binding.deploymentId, record.domain);
      }
      return c.body(null, 200);
    }
    const deployment = ownDeployment(c, store, body.deploymentId);
    record = await ensureVerified(store, verifier, record);
    attach(deployment, record.domain);
    return c.body(null, 200);
  });

  app.post("/v1/domains/:domainId/verify", async (c) => {
    await ensureVerified(store, verifier, ownDomain(c, store, c.req.param("domainId")));
    return c.body(null, 200);
  });

  app.post("/v1/domains/:domainId/certificates", async (c) => {
    let record = ownDomain(c, store, c.req.param("domainId"));
    const body = parseBody(certificateBody, await readJson(c, SMALL_BODY_BYTES));
    record = await ensureVerified(store, verifier, record);
    storeUploadedCertificate(store, record, body);
    return c.body(null, 200);
  });

  app.post("/v1/domains/:domainId/certificates/provision", async (c) => {
    let record = ownDomain(c, store, c.req.param("domainId"));
    record = await ensureVerified(store, verifier, record);
    const failure = await provisionCertificates(store, services.ca, record);
    if (failure !== undefined) {
      throw new RequestError(
        500,
        "certificateProvisioningFailed",
        `The certificates of ${record.domain} could not be issued: ${failure}`,
      );
    }
    return c.body(null, 200);
  });

  // ---- attaching host names to deployments ----

  // Two extensions make concurrent moves safe (the check and the move are one synchronous
  // step): `?unlessNewer=true` leaves a name with a holder created after this deployment
  // (`deploy --prod` racing another), `?ifHolder=<id>|none` moves it only from that holder
  // (`env set --prod` retrying on what production became).
  app.put("/v1/deployments/:deploymentId/domains/:domain", async (c) => {
    const deployment = ownDeployment(c, store, c.req.param("deploymentId"));
    const name = resolveOne(deployment, c.req.param("domain"));
    const holder = store.domainBinding(name);
    const holderId = holder?.deploymentId ?? "none";
    const ifHolder = c.req.query("ifHolder");
    if (ifHolder !== undefined && ifHolder !== holderId && holderId !== deployment.id) {
      throw new RequestError(
        409,
        "domainHolderChanged",
        `${name} is served by ${
          holderId === "none" ? "no deployment" : `deployment ${holderId}`
        }, ` +
          `not ${ifHolder}: production changed meanwhile`,
      );
    }
    if (c.req.query("unlessNewer") === "true" && newerHolder(store, deployment, name)) {
      throw new RequestError(
        409,
        "newerDeploymentHoldsDomain",
        `${name} stays with deployment ${holderId}, created after ${deployment.id}`,
      );
    }
    await movingProduction(store, engine, deployment, () => attach(deployment, name));
    return c.json({ domain: name });
  });

  app.delete("/v1/deployments/:deploymentId/domains/:domain", async (c) => {
    const deployment = ownDeployment(c, store, c.req.param("deploymentId"));
    const name = resolveOne(deployment, c.req.param("domain"));
    const detached = await movingProduction(
      store,
      engine,
      deployment,
      () => twinNames(deployment, name).map((n) => store.detachDomain(deployment.id, n)),
    );
    if (!detached[0]) {
      throw new RequestError(
        404,
        "domainNotAttached",
        `Domain ${name} is not attached to deployment ${deployment.id}`,
      );
    }
    return c.body(null, 200);
  });

  function resolveOne(deployment: DeploymentRecord, domain: string): string {
    const [name] = resolveDomains([domain], {
      projectName: deployment.projectName,
      deploymentId: deployment.id,
      baseDomain,
    });
    return name;
  }

  /** Attaches `name` to a deployment that can serve it; the name moves from its holder. */
  function attach(deployment: DeploymentRecord, name: string): void {
    assertAttachable(store, deployment.organizationId, name, baseDomain);
    if (deployment.status !== "success") {
      throw new RequestError(
        409,
        "deploymentNotReady",
        `Deployment ${deployment.id} is ${deployment.status}: only a deployment whose build ` +
          "succeeded can serve a domain",
      );
    }
    for (const each of twinNames(deployment, name)) {
      if (!store.attachDomain(deployment.id, each)) {
        throw new RequestError(
          409,
          "domainTaken",
          `Domain ${each} is attached to a deployment of another organization`,
        );
      }
    }
  }

  /** `name`, then its v2 (or v1) twin when it is one of the project's own names. */
  function twinNames(deployment: DeploymentRecord, name: string): string[] {
    for (
      const pair of [
        productionNames(deployment.projectName, deployment.organizationSlug, baseDomain),
        previewNames(deployment, baseDomain),
      ]
    ) {
      if (pair.includes(name)) return [name, ...pair.filter((n) => n !== name)];
    }
    return [name];
  }
}
