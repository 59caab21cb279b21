/**
 * The custom-domain API and `PUT/DELETE /deployments/{id}/domains/{domain}` of the local host,
 * served in-process by a real `Deno.serve`, with two organizations. Names under `test` are
 * trusted (verified without DNS); the router and the builder are not involved: a deployment
 * "succeeds" by the store's hand, as the builder would do it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ApiEngine, createApi } from "../host/api/mod.ts";
import { BlobStore } from "../host/store/blobs.ts";
import { liveDomains } from "../host/build/builder.ts";
import { LocalCa } from "../host/edge/certs.ts";
import { DomainVerifier } from "../host/api/domain_verify.ts";
import { newToken } from "../host/store/ids.ts";
import { Store } from "../host/store/store.ts";
import type { Deployment, Domain } from "../lib/types.ts";
import { customDomainCertificates } from "../host/store/custom_domains.ts";

const DOMAIN_KEYS = [
  "certificates",
  "createdAt",
  "dnsRecords",
  "domain",
  "id",
  "isValidated",
  "organizationId",
  "provisioningStatus",
  "token",
  "updatedAt",
];

class Engine implements ApiEngine {
  baseDomain = "localhost";
  deploymentCreated(): void {}
  deploymentDeleted(): Promise<void> {
    return Promise.resolve();
  }
}

interface Caller {
  orgId: string;
  call(method: string, path: string, json?: unknown): Promise<Response>;
  /** Calls and parses a 200 answer (or `undefined` for an empty one). */
  ok<T = unknown>(method: string, path: string, json?: unknown): Promise<T>;
}

interface Host extends AsyncDisposable {
  store: Store;
  acme: Caller;
  globex: Caller;
  dir: string;
}

async function startHost(): Promise<Host> {
  const dir = await Deno.makeTempDir({ prefix: "host_domains_test_" });
  const store = Store.open(join(dir, "host.db"));
  const engine = new Engine();
  let ca: Promise<LocalCa> | undefined;
  const app = createApi(store, new BlobStore(join(dir, "blobs")), engine, {
    domains: {
      baseDomain: engine.baseDomain,
      verifier: new DomainVerifier({
        baseDomain: engine.baseDomain,
        addresses: { ipv4: ["127.0.0.1"], ipv6: ["::1"] },
        trustDomains: ["test"],
        // Nothing answers there: names outside `test` cannot be verified.
        resolver: { ipAddr: "127.0.0.1", port: 9 },
        timeoutMs: 500,
      }),
      ca: () => ca ??= LocalCa.open(join(dir, "ca")),
    },
  });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  const caller = (name: string, first: boolean): Caller => {
    const org = first ? store.ensureOrganization(name) : store.createOrganization(name);
    const token = newToken();
    store.setToken(org.id, token);
    const call = (method: string, path: string, json?: unknown) =>
      fetch(`${url}/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: json === undefined ? undefined : JSON.stringify(json),
      });
    return {
      orgId: org.id,
      call,
      async ok<T>(method: string, path: string, json?: unknown): Promise<T> {
        const response = await call(method, path, json);
        const text = await response.text();
        assert.equal(response.status, 200, `${method} ${path}: ${text}`);
        return (text ? JSON.parse(text) : undefined) as T;
      },
    };
  };
  return {
    store,
    acme: caller("acme", true),
    globex: caller("globex", false),
    dir,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function assertError(response: Response, status: number, code: string): Promise<string> {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.code, code, body.message);
  return body.message;
}

/** A project and a deployment whose build "succeeded" (bound to its default name). */
async function deployed(host: Host, who: Caller, name: string): Promise<Deployment> {
  const project = await who.ok<{ id: string }>("POST", `/organizations/${who.orgId}/projects`, {
    name,
  });
  return await deploy(host, who, project.id);
}

async function deploy(host: Host, who: Caller, projectId: string, extra = {}) {
  const created = await who.ok<Deployment>("POST", `/projects/${projectId}/deployments`, {
    entryPointUrl: "main.ts",
    envVars: {},
    assets: {
      "main.ts": { kind: "file", content: "export default {fetch: () => new Response()}" },
    },
    ...extra,
  });
  // What the builder does when a build succeeds: bind the requested (or default) names.
  const record = host.store.getDeploymentRecord(created.id)!;
  host.store.setDeploymentStatus(created.id, "success", liveDomains(record, "localhost"));
  return await who.ok<Deployment>("GET", `/deployments/${created.id}`);
}

Deno.test("add a domain: the Domain object with its DNS records", async () => {
  await using host = await startHost();
  const { acme } = host;
  const domain = await acme.ok<Domain>("POST", `/organizations/${acme.orgId}/domains`, {
    domain: "Shop.Example.COM.",
  });
  assert.deepEqual(Object.keys(domain).sort(), DOMAIN_KEYS);
  assert.equal(domain.domain, "shop.example.com");
  assert.equal(domain.organizationId, acme.orgId);
  assert.match(domain.token, /^[0-9a-f]{24}$/);
  assert.equal(domain.isValidated, false);
  assert.deepEqual(domain.certificates, []);
  assert.deepEqual(domain.provisioningStatus, { code: "pending" });
  assert.deepEqual(domain.dnsRecords, [
    { type: "A", name: "shop.example.com", content: "127.0.0.1" },
    { type: "AAAA", name: "shop.example.com", content: "::1" },
    {
      type: "CNAME",
      name: "_acme-challenge.shop.example.com",
      content: `${domain.token}._acme.localhost.`,
    },
  ]);
  assert.deepEqual(await acme.ok("GET", `/domains/${domain.id}`), domain);

  const idn = await acme.ok<Domain>("POST", `/organizations/${acme.orgId}/domains`, {
    domain: "bücher.example",
  });
  assert.equal(idn.domain, "xn--bcher-kva.example");
});

Deno.test("add a domain: bad names, the host's own names and duplicates are refused", async () => {
  await using host = await startHost();
  const { acme, globex } = host;
  const add = (who: typeof acme, domain: unknown) =>
    who.call("POST", `/organizations/${who.orgId}/domains`, { domain });
  for (
    const bad of ["", "com", "192.0.2.1", "a..b", "-x.example.com", "*.com", "a.*.example.com"]
  ) {
    await assertError(await add(acme, bad), 400, bad === "" ? "invalidRequest" : "invalidDomain");
  }
  assert.match(
    await assertError(await add(acme, "shop.localhost"), 400, "invalidDomain"),
    /names under localhost are the host's own/,
  );
  await assertError(
    await acme.call("POST", `/organizations/${acme.orgId}/domains`, { domain: "a.test", x: 1 }),
    400,
    "invalidRequest",
  );
  await acme.ok("POST", `/organizations/${acme.orgId}/domains`, { domain: "shop.test" });
  await assertError(await add(acme, "SHOP.test"), 409, "domainAlreadyExists");
  // Another organization may register the same name (only one can verify it).
  await globex.ok("POST", `/organizations/${globex.orgId}/domains`, { domain: "shop.test" });
  await assertError(await add(globex, undefined), 400, "invalidRequest");
  await assertError(
    await globex.call("POST", `/organizations/${acme.orgId}/domains`, { domain: "x.test" }),
    404,
    "organizationNotFound",
  );
});

Deno.test("list domains: pages with Link, q and sort; another organization's are hidden", async () => {
  await using host = await startHost();
  const { acme, globex } = host;
  for (const name of ["c.test", "a.test", "b.example.com"]) {
    await acme.ok("POST", `/organizations/${acme.orgId}/domains`, { domain: name });
  }
  const theirs = await globex.ok<Domain>("POST", `/organizations/${globex.orgId}/domains`, {
    domain: "z.test",
  });
  const names = async (query: string) =>
    (await acme.ok<Domain[]>("GET", `/organizations/${acme.orgId}/domains${query}`))
      .map((d) => d.domain);
  assert.deepEqual(await names(""), ["c.test", "a.test", "b.example.com"]); // updated_at asc
  assert.deepEqual(await names("?sort=domain"), ["a.test", "b.example.com", "c.test"]);
  assert.deepEqual(await names("?sort=domain&order=desc&limit=2"), ["c.test", "b.example.com"]);
  assert.deepEqual(await names("?sort=domain&limit=2&page=2"), ["c.test"]);
  assert.deepEqual(await names("?q=.test&sort=domain"), ["a.test", "c.test"]);
  const page = await acme.call("GET", `/organizations/${acme.orgId}/domains?limit=2`);
  assert.match(page.headers.get("link") ?? "", /page=2>; rel="next"/);
  await page.body?.cancel();
  await assertError(
    await acme.call("GET", `/organizations/${acme.orgId}/domains?sort=name`),
    400,
    "invalidQuery",
  );
  await assertError(await acme.call("GET", `/domains/${theirs.id}`), 404, "domainNotFound");
  await assertError(await acme.call("DELETE", `/domains/${theirs.id}`), 404, "domainNotFound");
  await assertError(await acme.call("GET", `/domains/nope`), 404, "domainNotFound");
});

Deno.test("verify: trusted names verify; others need DNS, and the answer says what is missing", async () => {
  await using host = await startHost();
  const { acme } = host;
  const shop = await acme.ok<Domain>("POST", `/organizations/${acme.orgId}/domains`, {
    domain: "shop.test",
  });
  assert.equal(await acme.ok("POST", `/domains/${shop.id}/verify`), undefined);
  assert.equal((await acme.ok<Domain>("GET", `/domains/${shop.id}`)).isValidated, true);
  assert.equal(await acme.ok("POST", `/domains/${shop.id}/verify`), undefined); // again: fine

  const real = await acme.ok<Domain>("POST", `/organizations/${acme.orgId}/domains`, {
    domain: "shop.example.com",
  });
  const message = await assertError(
    await acme.call("POST", `/domains/${real.id}/verify`),
    400,
    "domainNotVerified",
  );
  assert.match(message, /_acme-challenge\.shop\.example\.com CNAME/);
  assert.equal((await acme.ok<Domain>("GET", `/domains/${real.id}`)).isValidated, false);
});

Deno.test("a name verified by one organization cannot be verified or attached by another", async () => {
  await using host = await startHost();
  const { acme, globex } = host;
  const ours = await acme.ok<Domain>("POST", `/organizations/${acme.orgId}/domains`, {
    domain: "shop.test",
  });
  await acme.ok("POST", `/domains/${ours.id}/verify`);
  const theirs = await globex.ok<Domain>("POST", `/organizations/${globex.orgId}/domains`, {
    domain: "shop.test",
  });
  assert.match(
    await assertError(
      await globex.call("POST", `/domains/${theirs.id}/verify`),
      409,
      "domainTaken",
    ),
    /verified by another organization/,
  );
  const rival = await deployed(host, globex, "rival");
  await assertError(
    await globex.call("PUT", `/deployments/${rival.id}/domains/shop.test`),
    400,
    "domainNotVerified",
  );
  await assertError(
    await globex.call("PUT", `/deployments/${rival.id}/domains/other.test`),
    400,
    "domainNotRegistered",
  );
  // At create time too.
  const project = (await globex.ok<{ id: string }[]>(
    "GET",
    `/organizations/${globex.orgId}/projects`,
  ))[0];
  await assertError(
    await globex.call("POST", `/projects/${project.id}/deployments`, {
      entryPointUrl: "main.ts",
      envVars: {},
      assets: { "main.ts": { kind: "file", content: "" } },
      domains: ["shop.test"],
    }),
    400,
    "domainNotVerified",
  );

  // Once the first organization removes it, the second can verify and attach it.
  await acme.ok("DELETE", `/domains/${ours.id}`);
  await globex.ok("POST", `/domains/${theirs.id}/verify`);
  assert.deepEqual(await globex.ok("PUT", `/deployments/${rival.id}/domains/shop.test`), {
    domain: "shop.test",
  });
});

Deno.test("attach and detach: placeholders, the base-domain rule, and moving a name", async () => {
  await using host = await startHost();
  const { acme } = host;
  const first = await deployed(host, acme, "shop");
  assert.deepEqual(first.domains, [`shop-${first.id}.localhost`]);
  const second = await deploy(host, acme, first.projectId);

  const put = (id: string, domain: string) =>
    acme.call("PUT", `/deployments/${id}/domains/${encodeURIComponent(domain)}`);
  assert.deepEqual(await (await put(first.id, "{project.name}.localhost")).json(), {
    domain: "shop.localhost",
  });
  let one = await acme.ok<Deployment>("GET", `/deployments/${first.id}`);
  assert.deepEqual(one.domains, [`shop-${first.id}.localhost`, "shop.localhost"]);

  // The production name moves; the first deployment keeps its own.
  assert.deepEqual(await (await put(second.id, "shop.localhost")).json(), {
    domain: "shop.localhost",
  });
  one = await acme.ok<Deployment>("GET", `/deployments/${first.id}`);
  const two = await acme.ok<Deployment>("GET", `/deployments/${second.id}`);
  assert.deepEqual(one.domains, [`shop-${first.id}.localhost`]);
  assert.deepEqual(two.domains, [`shop-${second.id}.localhost`, "shop.localhost"]);
  assert.equal(host.store.findDeploymentByDomain("shop.localhost"), second.id);
  // Putting it again is a no-op.
  assert.equal((await put(second.id, "shop.localhost")).status, 200);

  // Under the base domain only the project's own names.
  for (
    const bad of ["other.localhost", "my-{project.name}.localhost", "{deployment.id}.localhost"]
  ) {
    await assertError(await put(first.id, bad), 400, "invalidDomain");
  }
  await assertError(await put(first.id, "{project.id}.example.test"), 400, "invalidDomain");
  await assertError(await put(first.id, `shop-${second.id}.localhost`), 400, "invalidDomain");

  // Detach with a placeholder; detaching what is not attached is 404.
  const del = (id: string, domain: string) =>
    acme.call("DELETE", `/deployments/${id}/domains/${encodeURIComponent(domain)}`);
  assert.equal((await del(second.id, "{project.name}.localhost")).status, 200);
  assert.equal(host.store.findDeploymentByDomain("shop.localhost"), undefined);
  await assertError(await del(second.id, "shop.localhost"), 404, "domainNotAttached");
  assert.equal((await del(second.id, `shop-${second.id}.localhost`)).status, 200);
  assert.deepEqual((await acme.ok<Deployment>("GET", `/deployments/${second.id}`)).domains, []);

  // A deployment that has not succeeded cannot serve.
  const pending = await acme.ok<Deployment>("POST", `/projects/${first.projectId}/deployments`, {
    entryPointUrl: "main.ts",
    envVars: {},
    assets: { "main.ts": { kind: "file", content: "" } },
  });
  await assertError(await put(pending.id, "shop.localhost"), 409, "deploymentNotReady");
  await assertError(
    await host.globex.call("PUT", `/deployments/${first.id}/domains/shop.localhost`),
    404,
    "deploymentNotFound",
  );
});

Deno.test("custom domains: exact names, wildcards one level deep, and removal detaches", async () => {
  await using host = await startHost();
  const { acme } = host;
  const app = await deployed(host, acme, "shop");
  const add = async (domain: string) => {
    const created = await acme.ok<Domain>("POST", `/organizations/${acme.orgId}/domains`, {
      domain,
    });
    await acme.ok("POST", `/domains/${created.id}/verify`);
    return created;
  };
  const put = (domain: string) =>
    acme.call("PUT", `/deployments/${app.id}/domains/${encodeURIComponent(domain)}`);

  const apex = await add("example.test");
  assert.equal((await put("example.test")).status, 200);
  await assertError(await put("www.example.test"), 400, "domainNotRegistered");

  const wildcard = await add("*.apps.test");
  assert.deepEqual(await (await put("staging-{project.name}.apps.test")).json(), {
    domain: "staging-shop.apps.test",
  });
  assert.equal((await put("*.apps.test")).status, 200);
  await assertError(await put("apps.test"), 400, "domainNotRegistered");
  await assertError(await put("a.b.apps.test"), 400, "domainNotRegistered");
  // The router finds a name under the attached wildcard.
  assert.equal(host.store.findDeploymentByDomain("anything.apps.test"), app.id);

  // The domain shows what it is attached to.
  const shown = await acme.ok<Domain>("GET", `/domains/${apex.id}`);
  assert.equal(shown.deploymentId, app.id);
  assert.equal(shown.projectId, app.projectId);

  await acme.ok("DELETE", `/domains/${wildcard.id}`);
  const after = await acme.ok<Deployment>("GET", `/deployments/${app.id}`);
  assert.deepEqual(after.domains, [`shop-${app.id}.localhost`, "example.test"]);
  await assertError(await acme.call("GET", `/domains/${wildcard.id}`), 404, "domainNotFound");
});

Deno.test("PATCH /domains/{id} associates the domain with a deployment (deprecated)", async () => {
  await using host = await startHost();
  const { acme } = host;
  const app = await deployed(host, acme, "shop");
  const domain = await acme.ok<Domain>("POST", `/organizations/${acme.orgId}/domains`, {
    domain: "shop.test",
  });
  // Associating verifies first when needed.
  assert.equal(
    await acme.ok("PATCH", `/domains/${domain.id}`, { deploymentId: app.id }),
    undefined,
  );
  let shown = await acme.ok<Domain>("GET", `/domains/${domain.id}`);
  assert.equal(shown.isValidated, true);
  assert.equal(shown.deploymentId, app.id);
  await acme.ok("PATCH", `/domains/${domain.id}`, { deploymentId: null });
  shown = await acme.ok<Domain>("GET", `/domains/${domain.id}`);
  assert.equal(shown.deploymentId, undefined);
  assert.equal("deploymentId" in shown, false);
  await assertError(
    await acme.call("PATCH", `/domains/${domain.id}`, { deploymentId: "zzzzzzzzzzzz" }),
    404,
    "deploymentNotFound",
  );
});

Deno.test("certificates: provisioned by the local CA, or uploaded and checked", async () => {
  await using host = await startHost();
  const { acme } = host;
  const domain = await acme.ok<Domain>("POST", `/organizations/${acme.orgId}/domains`, {
    domain: "shop.test",
  });
  await acme.ok("POST", `/domains/${domain.id}/certificates/provision`);
  let shown = await acme.ok<Domain>("GET", `/domains/${domain.id}`);
  assert.equal(shown.isValidated, true); // provisioning verifies first
  assert.deepEqual(shown.provisioningStatus, { code: "success" });
  assert.deepEqual(shown.certificates.map((c) => c.cipher).sort(), ["ec", "rsa"]);
  assert.match(shown.certificates[0].expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

  // An upload replaces the provisioned pair.
  const ca = await LocalCa.open(join(host.dir, "ca"));
  const issued = await ca.issue("shop.test", "ec");
  await acme.ok("POST", `/domains/${domain.id}/certificates`, {
    certificateChain: issued.certificateChain,
    privateKey: issued.privateKey,
  });
  shown = await acme.ok<Domain>("GET", `/domains/${domain.id}`);
  assert.deepEqual(shown.provisioningStatus, { code: "manual" });
  assert.deepEqual(shown.certificates.map((c) => c.cipher), ["ec"]);
  const [stored] = customDomainCertificates(host.store, domain.id);
  assert.equal(stored.certificateChain.trim(), issued.certificateChain.trim());

  const other = await ca.issue("blog.test", "ec");
  assert.match(
    await assertError(
      await acme.call("POST", `/domains/${domain.id}/certificates`, {
        certificateChain: other.certificateChain,
        privateKey: other.privateKey,
      }),
      400,
      "invalidCertificate",
    ),
    /does not cover shop\.test/,
  );
  assert.match(
    await assertError(
      await acme.call("POST", `/domains/${domain.id}/certificates`, {
        certificateChain: issued.certificateChain,
        privateKey: other.privateKey,
      }),
      400,
      "invalidCertificate",
    ),
    /does not match/,
  );
  await assertError(
    await acme.call("POST", `/domains/${domain.id}/certificates`, { privateKey: "x" }),
    400,
    "invalidRequest",
  );

  // Nothing is uploaded for a domain that cannot be verified.
  const real = await acme.ok<Domain>("POST", `/organizations/${acme.orgId}/domains`, {
    domain: "shop.example.com",
  });
  await assertError(
    await acme.call("POST", `/domains/${real.id}/certificates/provision`),
    400,
    "domainNotVerified",
  );
});
