/**
 * `host start|status|stop`, and other commands finding the background host on their own.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { stopBackgroundHost } from "../lib/local_host.ts";
import { cpuCgroup, cpuCgroupDir } from "./helpers/cgroups.ts";
import { describe, jsonOf, runCli } from "./helpers/host.ts";

Deno.test("host start, status and stop manage a background host", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "deploy-tenant-test-" });
  const dataDir = join(root, "data");
  const env = { DEPLOY_TENANT_DATA_DIR: dataDir, XDG_CACHE_HOME: join(root, "cache") };
  try {
    let pid = 0;
    await t.step("start runs it in the background and writes host.json", async () => {
      const started = await runCli(["host", "start", "--port", "0", "--json"], { env });
      assert.equal(started.code, 0, describe(started));
      const info = jsonOf<{ apiUrl: string; pid: number; healthy: boolean; token?: string }>(
        started,
      );
      assert.match(info.apiUrl, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      assert.equal(info.token, undefined, "the token is never printed");
      pid = info.pid;
      const stat = await Deno.stat(join(dataDir, "host.json"));
      assert.equal(stat.mode! & 0o077, 0, "host.json is private");
      // No memory reducer: an idle host does not collect its whole heap (lib/local_host.ts).
      const environ = (await Deno.readTextFile(`/proc/${pid}/environ`)).split("\0");
      assert.ok(environ.includes("DENO_V8_FLAGS=--no-memory-reducer"), "the host's V8 flags");

      const again = await runCli(["host", "start", "--port", "0"], { env });
      assert.equal(again.code, 0, describe(again));
      assert.match(again.stdout, /already running/);
    });

    await t.step("status says it is healthy", async () => {
      const status = await runCli(["host", "status"], { env });
      assert.equal(status.code, 0, describe(status));
      assert.match(status.stdout, /^healthy:\s+yes$/m);
      assert.match(status.stdout, new RegExp(`^pid:\\s+${pid}$`, "m"));
      // How limits are enforced, and the machine's room for warm tenants.
      assert.match(status.stdout, /^limits:\s+(cgroup v[12] \(memory, cpu.*|no cgroups \(.+)$/m);
      assert.match(
        status.stdout,
        /^capacity:\s+(about \d+ warm tenants \(bound by [a-z ]+\)|unknown.*); --max-warm 256$/m,
      );
    });

    await t.step(
      "status --json reports the machine's limits and the capacity they allow",
      async () => {
        const status = jsonOf<{
          cgroups: string;
          limits: {
            openFiles: { soft: number } | null;
            pidMax: number | null;
            memoryAvailableBytes: number | null;
            maxWarm: number;
            capacity: {
              tenants: number | null;
              boundBy: string | null;
              each: Record<string, number>;
            };
          };
        }>(await runCli(["host", "status", "--json"], { env }));
        assert.equal(typeof status.cgroups, "string");
        assert.equal(status.limits.maxWarm, 256);
        if (Deno.build.os === "linux") {
          assert.ok(status.limits.openFiles!.soft > 0);
          assert.ok(status.limits.pidMax! > 0 && status.limits.memoryAvailableBytes! > 0);
          const { capacity } = status.limits;
          assert.ok(capacity.tenants! > 0);
          assert.equal(capacity.tenants, Math.min(...Object.values(capacity.each)));
          assert.equal(capacity.each[capacity.boundBy!], capacity.tenants);
          const log = await Deno.readTextFile(join(dataDir, "host.log"));
          if (capacity.tenants! >= 256) assert.doesNotMatch(log, /warning: --max-warm/);
        }
      },
    );

    await t.step("commands without an API use it", async () => {
      const created = await runCli(["project", "create", "local-one"], { env });
      assert.equal(created.code, 0, describe(created));
      const list = jsonOf<{ name: string }[]>(await runCli(["project", "list", "--json"], { env }));
      assert.deepEqual(list.map((p) => p.name), ["local-one"]);
    });

    // Where the host makes cgroups and HAProxy fronts the tenants: HAProxy in a cgroup of its
    // own, the host's own process below serving tenants (host/tenant/cgroups.ts).
    let placed: string[] = [];
    await t.step("the data path runs in cgroups of its own, the host's work below it", async () => {
      const status = jsonOf<{ cgroups: string; frontProxy: string }>(
        await runCli(["host", "status", "--json"], { env }),
      );
      if (!status.cgroups.startsWith("cgroup") || status.frontProxy !== "haproxy") {
        console.log(`  (not here: ${status.cgroups}; data path ${status.frontProxy})`);
        return;
      }
      const haproxy = [...Deno.readDirSync("/proc")].map((entry) => entry.name)
        .filter((name) => /^\d+$/.test(name))
        .find((name) => {
          try {
            const cmdline = Deno.readTextFileSync(`/proc/${name}/cmdline`);
            return cmdline.includes("haproxy") && cmdline.includes(dataDir) &&
              Deno.readTextFileSync(`/proc/${name}/comm`).trim() === "haproxy";
          } catch {
            return false;
          }
        });
      assert.ok(haproxy, "HAProxy runs");
      const hostGroup = cpuCgroup(pid);
      const edgeGroup = cpuCgroup(Number(haproxy));
      assert.match(hostGroup, new RegExp(`/deploy-tenant-${pid}-[0-9a-f]{8}-host$`));
      assert.match(edgeGroup, new RegExp(`/deploy-tenant-${pid}-[0-9a-f]{8}-edge$`));
      placed = [hostGroup, edgeGroup];
    });

    await t.step("stop ends it; status then exits 6", async () => {
      const stopped = await runCli(["host", "stop"], { env });
      assert.equal(stopped.code, 0, describe(stopped));
      assert.match(stopped.stdout, new RegExp(`Stopped the local host \\(pid ${pid}\\)`));
      const status = await runCli(["host", "status"], { env });
      assert.equal(status.code, 6, describe(status));
      const stoppedAgain = await runCli(["host", "stop"], { env });
      assert.match(stoppedAgain.stdout, /No local host is running/);
      for (const group of placed) {
        assert.throws(() => Deno.statSync(cpuCgroupDir(group)), Deno.errors.NotFound, group);
      }
    });

    await t.step(
      "--max-warm past the machine's room is warned about; --no-cgroups samples",
      async () => {
        const started = await runCli(
          ["host", "start", "--port", "0", "--max-warm", "10000", "--no-cgroups", "--json"],
          { env },
        );
        assert.equal(started.code, 0, describe(started));
        const info = jsonOf<{
          cgroups: string;
          limits: { capacity: { tenants: number | null; boundBy: string } };
        }>(started);
        assert.match(info.cgroups, /^no cgroups \(turned off \(--no-cgroups\)\): memory sampled/);
        const log = await Deno.readTextFile(join(dataDir, "host.log"));
        const { tenants, boundBy } = info.limits.capacity;
        if (tenants !== null && tenants < 10_000) {
          assert.match(
            log,
            new RegExp(
              `warning: --max-warm is 10000, but this machine's ${boundBy} limit leaves room for about ${tenants} warm tenants`,
            ),
          );
        } else assert.doesNotMatch(log, /warning: --max-warm/);
        assert.equal((await runCli(["host", "stop"], { env })).code, 0);
      },
    );
  } finally {
    await stopBackgroundHost(dataDir).catch(() => {});
    await Deno.remove(root, { recursive: true });
  }
});
