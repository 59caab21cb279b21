/**
 * A request whose target is in absolute form (`GET http://name/path HTTP/1.1`, as HTTP proxies
 * and lib/invoke.ts send it) reaches the tenant as the same request in origin form would, through
 * both data paths and over HTTPS: its URL's scheme and `x-forwarded-proto` are the connection's,
 * never the one the client wrote, and a target naming another authority than `Host` is refused
 * (RFC 9112 3.2.2).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import tls from "node:tls";
import { hasProgram } from "../lib/programs.ts";
import { ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";

const SEEN = `Deno.serve((request) => Response.json({
  url: request.url,
  proto: request.headers.get("x-forwarded-proto"),
}));
`;

/** Sends `head` to 127.0.0.1:`port` (over TLS for `serverName`); the status and JSON body. */
async function send(
  port: number,
  head: string,
  tlsFor?: { serverName: string; ca: string },
): Promise<{ status: number; body: Record<string, string> | string }> {
  let text: string;
  if (tlsFor) {
    text = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect(
        { host: "127.0.0.1", port, servername: tlsFor.serverName, ca: tlsFor.ca },
        () => socket.write(head),
      );
      let data = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => data += chunk);
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
    });
  } else {
    const connection = await Deno.connect({ hostname: "127.0.0.1", port });
    await connection.write(new TextEncoder().encode(head));
    text = await new Response(connection.readable).text();
  }
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
  const body = text.slice(text.indexOf("\r\n\r\n") + 4);
  try {
    return { status, body: JSON.parse(body) };
  } catch {
    return { status, body };
  }
}

for (const frontProxy of [true, false]) {
  const path = frontProxy ? "behind HAProxy" : "through the host's router";
  Deno.test({
    name: `absolute-form request targets ${path}: the connection's scheme, the Host's authority`,
    ignore: frontProxy && !hasProgram("haproxy"),
    async fn() {
      await using api = await startApiHost({ frontProxy, httpsPort: 0 });
      const project = await ok(
        api,
        "POST",
        `/v1/organizations/${api.host.organizationId}/projects`,
        {
          json: { name: "absolute" },
        },
      );
      const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
        json: {
          entryPointUrl: "main.ts",
          envVars: {},
          assets: { "main.ts": { kind: "file", content: SEEN } },
        },
      });
      assert.equal(await waitForBuild(api, String(deployment.id)), "success");
      const name = `absolute-${deployment.id}.localhost`;
      const { port } = api.host;
      const host = `${name}:${port}`;
      const get = (target: string, hostHeader = host) =>
        send(port, `GET ${target} HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`);
      const plain = { url: `http://${host}/a?q=1`, proto: "http" };

      for (const when of ["first", "warm"]) {
        assert.deepEqual(await get("/a?q=1"), { status: 200, body: plain }, `${when}: origin form`);
        assert.deepEqual(
          await get(`http://${host}/a?q=1`),
          { status: 200, body: plain },
          `${when}: absolute`,
        );
        assert.deepEqual(
          await get(`https://${host}/a?q=1`),
          { status: 200, body: plain },
          `${when}: an https: target on the plain port is still plain HTTP`,
        );
        assert.equal(
          (await get(`http://elsewhere.example/a`)).status,
          400,
          `${when}: a target naming another authority than Host`,
        );
      }

      const ca = await Deno.readTextFile(join(api.host.dataDir, "ca", "root.crt"));
      const httpsPort = api.host.httpsPort!;
      const secureHost = `${name}:${httpsPort}`;
      const overTls = (target: string) =>
        send(
          httpsPort,
          `GET ${target} HTTP/1.1\r\nHost: ${secureHost}\r\nConnection: close\r\n\r\n`,
          { serverName: name, ca },
        );
      const secure = { url: `https://${secureHost}/a?q=1`, proto: "https" };
      assert.deepEqual(
        await overTls("/a?q=1"),
        { status: 200, body: secure },
        "HTTPS, origin form",
      );
      assert.deepEqual(
        await overTls(`https://${secureHost}/a?q=1`),
        { status: 200, body: secure },
        "HTTPS, absolute form",
      );
      assert.equal(
        (await overTls("https://elsewhere.example/a")).status,
        400,
        "HTTPS, another authority",
      );
    },
  });
}
