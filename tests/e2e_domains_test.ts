/**
 * Production, staging and custom domains through the CLI against a real local host with
 * HTTPS (`--https-port 0`) and `--trust-domain test` (no DNS: only loopback is used).
 *
 * `*.localhost` names are reached through the router as an HTTP proxy (what `invoke` does);
 * custom names the same way with `invoke(..., {via})`; HTTPS with `node:https`, connecting to
 * 127.0.0.1 while sending the name as SNI, trusting the CA printed by `host ca`.
 */
import assert from "node:assert/strict";
import https from "node:https";
import { join } from "node:path";
import { Store } from "../host/store/store.ts";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import type { Deployment, Domain } from "../lib/types.ts";
import { describe, jsonOf, runCli, runCliOk, startTestHost, writeApp } from "./helpers/host.ts";

type Deployed = Deployment & { url: string };

interface Answer {
  version: string;
  host: string;
  proto: string;
  url: string;
}

const APP = `export default {
  fetch(request) {
    return Response.json({
      version: Deno.env.get("VERSION"),
      host: request.headers.get("host"),
      proto: request.headers.get("x-forwarded-proto"),
      url: request.url,
    });
  },
};
`;

/** GET over HTTPS to 127.0.0.1:`port`, sending `serverName` as SNI and `host` as Host. */
function httpsGet(
  port: number,
  serverName: string,
  ca: string,
  host = serverName,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request({
      host: "127.0.0.1",
      port,
      servername: serverName,
      ca,
      headers: { host },
      path: "/",
      agent: false,
    }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => body += chunk);
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("error", reject);
    request.end();
  });
}

Deno.test("production, staging and custom domains with TLS, through the CLI", async (t) => {
  const host = await startTestHost({ args: ["--https-port", "0", "--trust-domain", "test"] });
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  const ok = (...args: string[]) => runCliOk(args, { env: host.env });
  const app = await writeApp(host, "app", APP);
  const router = `http://127.0.0.1:${host.port}`;
  /** What the deployment at `domain` answers over HTTP, through the router. */
  const answerAt = async (domain: string): Promise<Answer & { status: number }> => {
    const response = await invoke(`http://${domain}:${host.port}/`, {}, { via: router });
    const text = await response.text();
    return response.ok ? { status: response.status, ...JSON.parse(text) } : {
      status: response.status,
      version: "",
      host: "",
      proto: text,
      url: "",
    };
  };
  const deploy = async (...args: string[]) =>
    jsonOf<Deployed>(await ok("deploy", app, "-p", "shop", ...args, "--json"));
  const show = async (id: string) =>
    jsonOf<Deployed>(await ok("deployments", "show", id, "--json"));

  try {
    await ok("project", "create", "shop");
    let first: Deployed;
    let second: Deployed;

    await t.step("deploy --prod serves the deployment at {project.name}.<base>", async () => {
      const human = await ok("deploy", app, "-p", "shop", "--env", "VERSION=1", "--prod");
      assert.match(
        human.stdout,
        new RegExp(`^production: http://shop\\.localhost:${host.port}/$`, "m"),
      );
      [first] = jsonOf<Deployed[]>(await ok("deployments", "list", "shop", "--json"));
      assert.deepEqual(first.domains, [`shop-${first.id}.localhost`, "shop.localhost"]);
      assert.equal((await answerAt("shop.localhost")).version, "1");
    });

    await t.step(
      "a second deploy --prod takes production; the first keeps its own URL",
      async () => {
        second = await deploy("--env", "VERSION=2", "--prod");
        assert.deepEqual(second.domains, [`shop-${second.id}.localhost`, "shop.localhost"]);
        assert.equal((await answerAt("shop.localhost")).version, "2");
        assert.deepEqual((await show(first.id)).domains, [`shop-${first.id}.localhost`]);
        const own = await ok("invoke", first.url);
        assert.equal(JSON.parse(own.stdout).version, "1");
      },
    );

    await t.step("deployments promote moves production back", async () => {
      const promoted = await ok("deployments", "promote", first.id);
      assert.match(
        promoted.stdout,
        new RegExp(`Promoted ${first.id} to production of project shop`),
      );
      assert.match(promoted.stdout, new RegExp(`http://shop\\.localhost:${host.port}/`));
      assert.equal((await answerAt("shop.localhost")).version, "1");
      assert.deepEqual((await show(second.id)).domains, [`shop-${second.id}.localhost`]);
      const human = await ok("deployments", "show", first.id);
      assert.match(
        human.stdout,
        new RegExp(`domains: +shop-${first.id}\\.localhost, shop\\.localhost`),
      );

      const failed = await cli("deployments", "promote", "zzzzzzzzzzzz");
      assert.equal(failed.code, 4, describe(failed));
    });

    await t.step("domain add prints the DNS records as a table", async () => {
      const added = await ok("domain", "add", "shop.test");
      const lines = added.stdout.split("\n");
      assert.ok(lines.some((line) => /^TYPE +NAME +VALUE$/.test(line)), added.stdout);
      assert.ok(lines.some((line) => /^A +shop\.test +127\.0\.0\.1$/.test(line)), added.stdout);
      assert.ok(lines.some((line) => /^AAAA +shop\.test +::1$/.test(line)), added.stdout);
      const shown = jsonOf<Domain>(await ok("domain", "show", "shop.test", "--json"));
      assert.ok(
        lines.some((line) =>
          new RegExp(
            `^CNAME +_acme-challenge\\.shop\\.test +${shown.token}\\._acme\\.localhost\\.$`,
          ).test(line)
        ),
        added.stdout,
      );
      assert.equal(shown.isValidated, false);
      assert.match(added.stdout, /deploy-tenant domain verify shop\.test/);
    });

    await t.step("an unverified domain cannot be attached", async () => {
      const refused = await cli("domain", "attach", second.id, "shop.test");
      assert.equal(refused.code, 1, describe(refused));
      assert.match(refused.stderr, /not verified/);
    });

    await t.step("verify under --trust-domain, attach, and it is served over HTTP", async () => {
      assert.match((await ok("domain", "verify", "shop.test")).stdout, /Verified shop\.test/);
      const attached = await ok("domain", "attach", second.id, "shop.test");
      assert.match(attached.stdout, new RegExp(`Attached shop\\.test to deployment ${second.id}`));
      assert.match(attached.stdout, /no TLS certificate yet/);
      const answer = await answerAt("shop.test");
      // The Host as the client sent it, and the URL it asked for, as a local server sees them.
      assert.deepEqual(answer, {
        status: 200,
        version: "2",
        host: `shop.test:${host.port}`,
        proto: "http",
        url: `http://shop.test:${host.port}/`,
      });
      const listed = jsonOf<Domain[]>(await ok("domain", "list", "--json"));
      assert.equal(listed.length, 1);
      assert.equal(listed[0].deploymentId, second.id);
      assert.equal(listed[0].isValidated, true);
    });

    await t.step("with a provisioned certificate it is served over HTTPS", async () => {
      await ok("domain", "certs", "provision", "shop.test");
      const caPath = (await ok("host", "ca", "--data-dir", host.dataDir)).stdout.trim();
      assert.equal(caPath, join(host.dataDir, "ca", "root.crt"));
      const ca = await Deno.readTextFile(caPath);
      const info = JSON.parse(await Deno.readTextFile(join(host.dataDir, "host.json")));
      assert.ok(Number.isInteger(info.httpsPort), JSON.stringify(info));

      const secure = await httpsGet(info.httpsPort, "shop.test", ca);
      assert.equal(secure.status, 200, secure.body);
      assert.deepEqual(JSON.parse(secure.body), {
        version: "2",
        host: "shop.test",
        proto: "https",
        url: "https://shop.test/",
      });
      // Names under the base domain get certificates from the same CA.
      const production = await httpsGet(info.httpsPort, "shop.localhost", ca);
      assert.equal(JSON.parse(production.body).version, "1");
      // One name's certificate does not front another name.
      const misdirected = await httpsGet(info.httpsPort, "shop.test", ca, "shop.localhost");
      assert.equal(misdirected.status, 421);
      // No certificate for a name that is not served: the handshake fails.
      await assert.rejects(httpsGet(info.httpsPort, "nothing.test", ca));

      const shown = jsonOf<Domain>(await ok("domain", "show", "shop.test", "--json"));
      assert.deepEqual(shown.provisioningStatus, { code: "success" });
      assert.deepEqual(shown.certificates.map((c) => c.cipher).sort(), ["ec", "rsa"]);
    });

    await t.step("staging: deploy --domain with a pattern under a verified wildcard", async () => {
      await ok("domain", "add", "*.example.test");
      await ok("domain", "verify", "*.example.test");
      const staging = await deploy(
        "--env",
        "VERSION=3",
        "--domain",
        "staging-{project.name}.example.test",
      );
      assert.deepEqual(staging.domains, [
        `shop-${staging.id}.localhost`,
        "staging-shop.example.test",
      ]);
      assert.equal((await answerAt("staging-shop.example.test")).version, "3");
      assert.equal((await answerAt("shop.localhost")).version, "1"); // production unchanged
      const refused = await cli("deploy", app, "-p", "shop", "--domain", "shop.elsewhere.test");
      assert.equal(refused.code, 1, describe(refused));
      assert.match(refused.stderr, /not registered/);
    });

    await t.step(
      "another organization cannot verify or attach the first one's domain",
      async () => {
        const store = Store.open(join(host.dataDir, "host.db"));
        const rivalOrg = store.createOrganization("rival");
        const rivalToken = `ddl_rival${crypto.randomUUID().replaceAll("-", "")}`;
        store.setToken(rivalOrg.id, rivalToken);
        store.close();
        const rival = (...args: string[]) =>
          runCli(args, {
            env: { ...host.env, DEPLOY_ACCESS_TOKEN: rivalToken, DEPLOY_ORG_ID: rivalOrg.id },
          });
        assert.equal((await rival("project", "create", "rival")).code, 0);
        const theirs = jsonOf<Deployed>(await rival("deploy", app, "-p", "rival", "--json"));
        assert.equal((await rival("domain", "add", "shop.test")).code, 0);
        const verify = await rival("domain", "verify", "shop.test");
        assert.equal(verify.code, 5, describe(verify));
        assert.match(verify.stderr, /verified by another organization/);
        const attach = await rival("domain", "attach", theirs.id, "shop.test");
        assert.equal(attach.code, 1, describe(attach));
        assert.match(attach.stderr, /not verified/);
        const steal = await rival("domain", "attach", second.id, "shop.test");
        assert.equal(steal.code, 4, describe(steal));
        assert.equal((await answerAt("shop.test")).version, "2");
      },
    );

    await t.step("detach and remove: the name stops answering", async () => {
      const detached = await ok("domain", "detach", second.id, "shop.test");
      assert.match(detached.stdout, /Detached shop\.test/);
      assert.equal((await answerAt("shop.test")).status, 404);
      await ok("domain", "attach", second.id, "shop.test");
      assert.equal((await answerAt("shop.test")).version, "2");
      const refused = await cli("domain", "remove", "shop.test");
      assert.equal(refused.code, 2, describe(refused)); // no terminal to confirm on
      await ok("domain", "remove", "shop.test", "--yes");
      assert.equal((await answerAt("shop.test")).status, 404);
      assert.equal((await cli("domain", "show", "shop.test")).code, 4);
    });
  } finally {
    closeInvokeClients();
    await host.stop();
  }
});
