/**
 * The front proxy (HAProxy in front of the host) against a real host with at most one warm
 * process (`--max-warm 1`): which names HAProxy routes, that a reused slot never reaches the
 * previous tenant, that usage is still counted exactly, that a stuck tenant still gets its
 * 504 and a restart, that HAProxy dies with the host, and that a slot left idle is woken up by
 * its next request (the host reads only slots that serve). Skipped where HAProxy is missing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { V1Api } from "../lib/api.ts";
import { deploy } from "../lib/deploy.ts";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import type { Deployment } from "../lib/types.ts";
import { findHaproxy, haproxyTooOld, parseHaproxyVersion } from "../host/edge/haproxy.ts";
import { counterDelta, parseCounterTables, parseProxyLogLine } from "../host/edge/proxy_usage.ts";
import { ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";
import { startTestHost, writeApp } from "./helpers/host.ts";
import { requires } from "./helpers/programs.ts";

const haproxy = findHaproxy();

/** Answers with its name, a per-process id, the forwarding headers and what it was sent. */
const APP = `
const processId = crypto.randomUUID();
Deno.serve(async (request) => {
  const url = new URL(request.url);
  const sent = await request.text();
  if (url.pathname === "/stream") {
    let chunks = 0;
    return new Response(new ReadableStream({
      pull(controller) {
        if (chunks++ < 3) controller.enqueue(new TextEncoder().encode("s".repeat(1000)));
        else controller.close();
      },
    }));
  }
  if (url.pathname === "/spin") while (true) {}
  if (url.pathname === "/hang") await new Promise(() => {});
  if (url.pathname === "/slow") await new Promise((resolve) => setTimeout(resolve, 1000));
  return Response.json({
    name: Deno.env.get("NAME"),
    processId,
    sent: sent.length,
    forwardedFor: request.headers.get("x-forwarded-for"),
    proto: request.headers.get("x-forwarded-proto"),
  });
});
`;

/** The answer to one command on the front proxy's admin socket (`<front>/admin.sock`). */
async function adminCommand(front: string, command: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path: join(front, "admin.sock") });
  await conn.write(new TextEncoder().encode(command + "\n"));
  return await new Response(conn.readable).text();
}

/** The routes map: host name → slot backend. */
async function routesOf(front: string): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (
    const line of (await adminCommand(front, `show map ${join(front, "routes.map")}`)).split("\n")
  ) {
    const [, name, value] = line.split(" ");
    if (name) map.set(name, value.split("|")[0]);
  }
  return map;
}

/** The requests HAProxy forwarded through each backend (`req_tot`), by backend name. */
async function requestTotals(front: string): Promise<Map<string, number>> {
  const csv = (await adminCommand(front, "show stat -1 2 -1")).split("\n");
  const header = csv[0].slice(2).split(",");
  const totals = new Map<string, number>();
  for (const line of csv.slice(1)) {
    const row = line.split(",");
    if (row[1] === "BACKEND") totals.set(row[0], Number(row[header.indexOf("req_tot")]));
  }
  return totals;
}

interface Answer {
  name: string;
  processId: string;
  sent: number;
  forwardedFor: string | null;
  proto: string | null;
}

Deno.test(
  requires(["haproxy"], {
    name: "front proxy: routes warm deployments, never a reused slot's old tenant, counts usage",
    ignore: !haproxy,
  }),
  async (t) => {
    const host = await startTestHost({ args: ["--max-warm", "1"] });
    const api = new V1Api({
      baseUrl: host.apiUrl,
      token: host.token,
      organizationId: host.organizationId,
    });
    const front = join(host.dataDir, "front");
    const admin = (command: string) => adminCommand(front, command);
    const routes = () => routesOf(front);
    const requestsOf = async (backend: string) => (await requestTotals(front)).get(backend)!;
    const router = `http://127.0.0.1:${host.port}`;
    const call = async (domain: string, path = "/", init: RequestInit = {}) => {
      const response = await invoke(`http://${domain}:${host.port}${path}`, init, { via: router });
      return { status: response.status, text: await response.text() };
    };
    const answer = async (domain: string, init?: RequestInit) => {
      const { status, text } = await call(domain, "/", init);
      assert.equal(status, 200, text);
      return JSON.parse(text) as Answer;
    };
    const waitFor = async (what: string, condition: () => Promise<boolean>) => {
      const deadline = Date.now() + 15_000;
      while (!await condition()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    try {
      const app = await writeApp(host, "app", APP);
      const live = async (project: string, name: string, requestTimeout?: number) => {
        await api.projects.create({ name: project });
        const result = await deploy({
          api,
          project,
          root: app,
          envVars: { NAME: name },
          requestTimeout,
        });
        assert.equal(result.deployment.status, "success", result.buildError);
        return result.deployment as Deployment & { domains: string[] };
      };
      const a = await live("tenant-a", "A");
      const b = await live("tenant-b", "B");
      const aHost = a.domains[0];
      const bHost = b.domains[0];

      await t.step("host.json says HAProxy is in front", async () => {
        const info = JSON.parse(await Deno.readTextFile(join(host.dataDir, "host.json")));
        assert.equal(info.frontProxy, "haproxy");
      });

      await t.step(
        "a warm deployment's names are mapped and its requests skip the router",
        async () => {
          const first = await answer(aHost); // B's build left B warm: A starts, through the router
          assert.equal(first.name, "A");
          await waitFor("A mapped", async () => (await routes()).has(aHost));
          const slot = (await routes()).get(aHost)!;
          const before = await requestsOf(slot);
          const fast = await answer(aHost);
          assert.equal(await requestsOf(slot), before + 1, "HAProxy forwarded it");
          assert.equal(fast.processId, first.processId);
          assert.equal(fast.forwardedFor, "127.0.0.1");
          assert.equal(fast.proto, "http");
          const unknown = await call("nothing-here.localhost");
          assert.equal(unknown.status, 404);
          assert.equal(JSON.parse(unknown.text).code, "deploymentNotFound");
        },
      );

      await t.step(
        "a stopped tenant's names leave the map; its slot never serves another",
        async () => {
          const slot = (await routes()).get(aHost)!;
          for (let round = 0; round < 3; round++) {
            // One warm process at most: starting B stops A, and B takes the slot A had.
            assert.equal((await answer(bHost)).name, "B");
            await waitFor("B mapped in A's place", async () => {
              const map = await routes();
              return !map.has(aHost) && map.get(bHost) === slot;
            });
            assert.equal((await answer(aHost)).name, "A", "A's name never reaches B");
            await waitFor("A mapped in B's place", async () => {
              const map = await routes();
              return !map.has(bHost) && map.get(aHost) === slot;
            });
          }
          const both = await Promise.all([aHost, bHost, aHost, bHost].map((name) => answer(name)));
          assert.deepEqual(both.map((each) => each.name), ["A", "B", "A", "B"]);
        },
      );

      await t.step(
        "a process stopped to make room answers the requests it has in flight first",
        async () => {
          const before = await answer(aHost);
          await waitFor("A mapped", async () => (await routes()).has(aHost));
          const slow = call(aHost, "/slow"); // through HAProxy, straight to A
          await new Promise((resolve) => setTimeout(resolve, 200));
          assert.equal((await answer(bHost)).name, "B", "B started in A's place");
          const answered = await slow;
          assert.equal(answered.status, 200, answered.text);
          // A client that resends a request whose connection closed unanswered would get it
          // from a new A: the process id says it was the one it was sent to.
          const late = JSON.parse(answered.text) as Answer;
          assert.equal(late.processId, before.processId, "answered by A before it stopped");
        },
      );

      await t.step("usage is counted exactly through the proxy", async () => {
        const c = await live("tenant-c", "C");
        const cHost = c.domains[0];
        let requests = 0;
        let sent = 0;
        let received = 0;
        const count = async (path: string, init: RequestInit = {}, body = "") => {
          const { status, text } = await call(cHost, path, init);
          assert.equal(status, 200);
          requests++;
          sent += body.length;
          received += new TextEncoder().encode(text).length;
        };
        await count("/"); // starts C through the router
        await waitFor("C mapped", async () => (await routes()).has(cHost));
        const body = "b".repeat(5000);
        await count("/", { method: "POST", body }, body);
        await count("/stream");
        // A stream body goes out chunked: no Content-Length to count.
        const chunked = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(body));
            controller.close();
          },
        });
        await count("/", { method: "PUT", body: chunked }, body);
        await count("/", { method: "HEAD" });
        const since = new Date(Date.now() - 3_600_000);
        const analytics = await api.analytics.project(c.projectId, { since });
        const names = analytics.fields.map((field) => field.name);
        const total = (name: string) =>
          analytics.values.reduce((sum, row) => sum + Number(row[names.indexOf(name)]), 0);
        assert.equal(total("requestCount"), requests);
        assert.equal(total("networkIngressBytes"), sent);
        assert.equal(total("networkEgressBytes"), received);
      });

      await t.step(
        "a stuck tenant gets 504 TIME_LIMIT from the proxy and is restarted",
        async () => {
          const d = await live("tenant-d", "D", 1000);
          const dHost = d.domains[0];
          const first = await answer(dHost);
          await waitFor("D mapped", async () => (await routes()).has(dHost));
          const hung = await call(dHost, "/hang");
          assert.equal(hung.status, 504);
          assert.match(JSON.parse(hung.text).message, /time limit of 1000 ms$/);
          assert.equal(
            (await answer(dHost)).processId,
            first.processId,
            "a free event loop serves on",
          );
          const spun = await call(dHost, "/spin");
          assert.equal(spun.status, 504);
          assert.equal(JSON.parse(spun.text).code, "TIME_LIMIT");
          assert.match(JSON.parse(spun.text).message, /restarted/);
          assert.notEqual(
            (await answer(dHost)).processId,
            first.processId,
            "a fresh process serves",
          );
        },
      );

      await t.step(
        "HAProxy keeps an idle tenant's connection: closing it would wake it",
        async () => {
          const e = await live("tenant-e", "E");
          const eHost = e.domains[0];
          await answer(eHost);
          await waitFor("E mapped", async () => (await routes()).has(eHost));
          await answer(eHost); // through HAProxy
          closeInvokeClients(); // the caller leaves: its server connection goes idle
          // HAProxy's default purge closed it within ~15 s.
          await new Promise((resolve) => setTimeout(resolve, 16_000));
          const [header, row] = (await admin(`show servers conn ${(await routes()).get(eHost)}`))
            .split("\n");
          const idle = Number(row.split(" ")[header.split(" ").indexOf("idle_cur") - 1]);
          assert.ok(idle >= 1, `idle connections to the tenant: ${idle}`);
        },
      );

      await t.step("HAProxy dies with the host, even by SIGKILL", async () => {
        const pid = Number((await admin("show info")).match(/^Pid: (\d+)$/m)![1]);
        closeInvokeClients();
        await host.stop("SIGKILL");
        await waitFor("HAProxy gone", async () => {
          try {
            const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
            return stat.split(") ")[1].startsWith("Z"); // a zombie: exited, not reaped yet
          } catch {
            return true;
          }
        });
      });
    } finally {
      closeInvokeClients();
      await host.stop();
    }
  },
);

Deno.test("proxy log lines give body bytes HAProxy's counters could not", () => {
  // A chunked 100 000-byte upload answered by a 3 000-byte stream (measured on HAProxy 2.6).
  const line = "dep1 200 -- 100160 3092 - - 140 5 8 1 67 2 1 POST /s";
  const entry = parseProxyLogLine(line)!;
  assert.equal(entry.deploymentId, "dep1");
  assert.equal(entry.bodyIn, 100_000);
  assert.equal(entry.bodyOut, 3_000);
  // A stuck tenant: HAProxy answered 504 itself after its server timeout.
  const stuck = parseProxyLogLine("dep2 504 sH 79 188 - - - - - - - - - GET /spin")!;
  assert.deepEqual(
    [stuck.status, stuck.termination, stuck.method, stuck.path, stuck.bodyIn, stuck.bodyOut],
    [504, "sH", "GET", "/spin", 0, 0],
  );
  assert.equal(parseProxyLogLine("- 200 -- 1 2 - - - - - - - - - GET /"), undefined);
});

Deno.test("an HAProxy older than 2.5 is told apart: the host then serves on its own", async () => {
  assert.deepEqual(
    parseHaproxyVersion("HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\n"),
    [2, 6],
  );
  assert.deepEqual(parseHaproxyVersion("HA-Proxy version 1.8.30 2021/04/02"), [1, 8]);
  assert.equal(parseHaproxyVersion("something else"), undefined);
  // A stand-in binary that says it is 2.4 (Ubuntu 22.04's): too old for the stick tables.
  const dir = await Deno.makeTempDir();
  try {
    const old = join(dir, "haproxy");
    await Deno.writeTextFile(
      old,
      "#!/bin/sh\necho 'HAProxy version 2.4.22-0ubuntu0.22.04.3 2023/12/04'\n",
    );
    await Deno.chmod(old, 0o755);
    assert.equal(haproxyTooOld(old), "2.4");
    if (haproxy) assert.equal(haproxyTooOld(haproxy), undefined, "the installed one is new enough");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a slot's counters are read from its stick table, across a 32-bit wrap", () => {
  // `show table` of three slots as HAProxy 2.6 answers: one never reached (no entry yet).
  const answer = [
    "# table: slot0, type: integer, size:1, used:1",
    "0x55d1c8a0e2f0: key=1 use=0 exp=0 gpt0=1 gpt1=15 gpt2=4096",
    "",
    "# table: slot7, type: integer, size:1, used:0",
    "",
    "# table: slot12, type: integer, size:1, used:1",
    "0x55d1c8a0e3a0: key=1 use=1 exp=0 gpt0=0 gpt1=0 gpt2=4294967295",
    "",
  ].join("\n");
  const tables = parseCounterTables(answer);
  assert.deepEqual(tables.get("slot0"), [1, 15, 4096]);
  assert.equal(tables.get("slot7"), undefined);
  assert.deepEqual(tables.get("slot12"), [0, 0, 4_294_967_295]);
  // 2^32 - 1 read before, 9 after: 10 bytes went through, not minus four billion.
  assert.equal(counterDelta(9, 4_294_967_295), 10);
  assert.equal(counterDelta(4096, 15), 4081);
  // Two threads' counters summed (each below 2^32): 2^33 - 2 read before, 0 after, both wrapped.
  assert.equal(counterDelta(0, 2 ** 33 - 2), 2);
});

Deno.test(
  requires(["haproxy"], {
    name: "front proxy: an idle slot is not read, and its next request through HAProxy wakes it",
    ignore: !haproxy,
  }),
  async () => {
    // Stopped after 3 s without a request the host has seen: a slot whose requests go through
    // HAProxy unseen would lose its process while it serves.
    await using api = await startApiHost({ idleTimeoutMs: 3_000 });
    const front = join(api.host.dataDir, "front");
    const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
      json: { name: "wakes-up" },
    });
    const created = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
      json: {
        entryPointUrl: "main.ts",
        envVars: {},
        assets: { "main.ts": { kind: "file", content: APP } },
        domains: ["wakes-up.localhost"],
      },
    });
    assert.equal(await waitForBuild(api, String(created.id)), "success");
    const router = `http://127.0.0.1:${api.host.port}`;
    const processId = async () => {
      const response = await invoke("http://wakes-up.localhost/", {}, { via: router });
      assert.equal(response.status, 200);
      return ((await response.json()) as Answer).processId;
    };
    const first = await processId();
    const deadline = Date.now() + 15_000;
    let backend;
    while (!(backend = (await routesOf(front)).get("wakes-up.localhost"))) {
      assert.ok(Date.now() < deadline, "mapped in time");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Its counters read quiet (polls are a second apart): the host stops reading the slot.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const served = async () => (await requestTotals(front)).get(backend)!;
    const before = await served();
    // Busy through HAProxy for longer than the idle timeout (and the host's 5 s eviction round).
    for (const end = Date.now() + 8_000; Date.now() < end;) {
      assert.equal(await processId(), first, "the process serving its callers is kept");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok((await served()) - before >= 20, "the requests went through HAProxy");
  },
);

/** Counts the requests its handler saw. */
const COUNTING_APP = `let seen = 0;
export default { fetch: () => Response.json({ seen: ++seen }) };
`;

/** `show servers conn` of a slot's tenant server: connections in use at most, and idle now. */
async function tenantConnections(front: string, backend: string) {
  const answer = await adminCommand(front, `show servers conn ${backend}`);
  const lines = answer.split("\n");
  const fields = lines[0].slice(2).split(" ");
  const row = lines.find((line) => line.startsWith(`${backend}/s `))!.split(" ");
  return {
    usedMax: Number(row[fields.indexOf("used_max")]),
    idle: Number(row[fields.indexOf("idle_cur")]),
  };
}

Deno.test(
  requires(["haproxy"], {
    name:
      "front proxy: a restored process has HAProxy's connection before its first caller; its handler and usage never see the warm-ups",
    ignore: !haproxy,
  }),
  async () => {
    const root = await Deno.makeTempDir({ prefix: "dt-front-restore-" });
    const dataDir = join(root, "data");
    const front = join(dataDir, "front");
    let host = await startTestHost({ dataDir });
    try {
      const connect = () =>
        new V1Api({ baseUrl: host.apiUrl, token: host.token, organizationId: host.organizationId });
      const app = join(root, "app");
      await Deno.mkdir(app);
      await Deno.writeTextFile(join(app, "main.ts"), COUNTING_APP);
      const project = await connect().projects.create({ name: "restored-counts" });
      const result = await deploy({ api: connect(), project: project.name, root: app });
      assert.equal(result.deployment.status, "success", result.buildError);
      const domain = (result.deployment as Deployment & { domains: string[] }).domains[0];
      const seen = async () => {
        const response = await invoke(`http://${domain}/`, {}, {
          via: `http://127.0.0.1:${host.port}`,
        });
        assert.equal(response.status, 200);
        return ((await response.json()) as { seen: number }).seen;
      };
      assert.equal(await seen(), 1);

      await host.stop();
      host = await startTestHost({ dataDir });
      const backend = (await routesOf(front)).get(domain);
      assert.ok(backend, "routed as soon as the host is ready");
      assert.deepEqual(await tenantConnections(front, backend), { usedMax: 1, idle: 1 });
      assert.equal(await seen(), 1, "the warm-ups never reached the handler");
      assert.equal(
        (await tenantConnections(front, backend)).usedMax,
        1,
        "the first caller's request took HAProxy's connection",
      );
      const since = new Date(Date.now() - 3_600_000);
      const analytics = await connect().analytics.project(project.id, { since });
      const column = analytics.fields.findIndex((field) => field.name === "requestCount");
      const requests = analytics.values.reduce((sum, row) => sum + Number(row[column]), 0);
      assert.equal(requests, 2, "one request before the restart, one after: no warm-up counted");
    } finally {
      await host.stop();
      await closeInvokeClients();
      await Deno.remove(root, { recursive: true });
    }
  },
);
