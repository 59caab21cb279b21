/**
 * What the runtime tells the app logs and the usage sampler about a tenant process: its
 * start, its console output with levels, the memory cap, and its resource use.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { forwardFailureResponse } from "../host/tenant/limits.ts";
import { detectCgroups } from "../host/tenant/cgroups.ts";
import { residentLimitMb } from "../host/tenant/process_guard.ts";
import { deploymentDirs, type ProcessObserver, Runtime } from "../host/tenant/runtime.ts";
import { detectIsolation, tenantDenoBinary } from "../host/tenant/sandbox.ts";
import type { LogLevel } from "../lib/types.ts";
import { tenantGet } from "./helpers/tenant_fetch.ts";
import { waitFor } from "./helpers/wait_for.ts";

const bootstrap = fileURLToPath(new URL("../host/tenant/bootstrap.js", import.meta.url));
const isolation = await detectIsolation(true);

const APP = `
Deno.serve(async (request) => {
  if (new URL(request.url).pathname === "/oom") {
    const hoard = [];
    while (true) hoard.push(new Array(100_000).fill(hoard.length));
  }
  console.log("plain");
  console.warn("careful");
  return new Response("ok");
});
`;

Deno.test("the runtime logs start, output and the memory cap, and reports its processes", async () => {
  const root = await Deno.makeTempDir({ prefix: "dt-runtime-events-" });
  const lines: [LogLevel, string][] = [];
  const events: string[] = [];
  const processes: ProcessObserver = {
    started: (id, pid) => events.push(`started ${id} ${pid > 0}`),
    stopping: () => events.push("stopping"),
    exited: () => events.push("exited"),
    kvUsage: () => {},
  };
  const runtime = new Runtime({
    isolation,
    deploymentsDir: root,
    bootstrap,
    deno: tenantDenoBinary(),
    memoryMb: 48,
    log: (_id, level, message) => lines.push([level, message]),
    processes,
  });
  try {
    const { app } = deploymentDirs(root, "hog");
    await Deno.mkdir(app, { recursive: true });
    await Deno.writeTextFile(join(app, "main.ts"), APP);
    const deployment = { id: "hog", entrypoint: "main.ts", envVars: {}, denoFlags: [] };
    const instance = await runtime.ensure(deployment);
    assert.match(lines[0][1], /^isolate start time: [\d.]+ ms$/);
    assert.deepEqual(events, ["started hog true"]);

    const ok = await tenantGet(instance.client);
    assert.equal(await ok.text(), "ok");
    // Output arrives over a pipe, a moment after the response.
    await waitFor(() => lines.some(([, message]) => message === "careful"));
    assert.deepEqual(lines.slice(1, 3), [["info", "plain"], ["warning", "careful"]]);

    const failure = await tenantGet(instance.client, "/oom")
      .then((response) => response.body?.cancel(), (error) => error);
    assert.ok(failure instanceof Error, "the request dies with the process");
    const answer = await forwardFailureResponse(instance);
    assert.equal(answer.status, 502);
    assert.equal((await answer.json()).code, "MEMORY_LIMIT");
    await waitFor(() => events.includes("exited"));
    const last = lines.at(-1)!;
    assert.deepEqual(last, ["error", "Memory limit exceeded, terminated (the limit is 48 MiB)"]);
    assert.ok(!lines.some(([, message]) => message.includes("Last few GCs")), "no V8 dump");
  } finally {
    await runtime.stopAll();
    await Deno.remove(root, { recursive: true });
  }
});

/** Allocates ArrayBuffers (outside V8's heap cap) on `/buffers` until something stops it. */
const BUFFERS_APP = `
const id = crypto.randomUUID();
Deno.serve(async (request) => {
  if (new URL(request.url).pathname === "/buffers") {
    const hoard = [];
    while (true) {
      hoard.push(new Uint8Array(16 << 20).fill(1));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  return new Response(id);
});
`;

/** This machine's tenant cgroups, or why there are none (see cgroups.ts). */
const cgroupSupport = detectCgroups();
const noCgroups = cgroupSupport.kind === "none" ? cgroupSupport.reason : undefined;
if (cgroupSupport.kind !== "none") await cgroupSupport.cgroups.close();

for (const path of ["kernel", "sampling"] as const) {
  const skipped = path === "kernel" && noCgroups;
  Deno.test({
    name: `memory past the cap in ArrayBuffers: killed and logged "Memory limit exceeded" (${
      path === "kernel" ? "the kernel, through the tenant's cgroup" : "the guard sampling /proc"
    })${skipped ? ` [skipped: no cgroups the host can make here: ${noCgroups}]` : ""}`,
    ignore: !!skipped,
    async fn() {
      const root = await Deno.makeTempDir({ prefix: "dt-runtime-memory-" });
      const support = path === "kernel" ? detectCgroups() : undefined;
      const cgroups = support?.kind === "v1" || support?.kind === "v2"
        ? support.cgroups
        : undefined;
      const lines: [LogLevel, string][] = [];
      const runtime = new Runtime({
        isolation,
        deploymentsDir: root,
        bootstrap,
        deno: tenantDenoBinary(),
        memoryMb: 48,
        // Sampling fast enough to catch 16 MiB every 10 ms where the guard is the one to.
        guard: { intervalMs: 100 },
        cgroups,
        log: (_id, level, message) => lines.push([level, message]),
      });
      try {
        const { app } = deploymentDirs(root, "buffers");
        await Deno.mkdir(app, { recursive: true });
        await Deno.writeTextFile(join(app, "main.ts"), BUFFERS_APP);
        const deployment = { id: "buffers", entrypoint: "main.ts", envVars: {}, denoFlags: [] };
        const instance = await runtime.ensure(deployment);
        const failure = await tenantGet(instance.client, "/buffers")
          .then((response) => response.body?.cancel(), (error) => error);
        assert.ok(failure instanceof Error, "the request dies with the process");
        const answer = await forwardFailureResponse(instance);
        assert.equal((await answer.json()).code, "MEMORY_LIMIT");
        const limit = residentLimitMb(48);
        await waitFor(() => lines.some(([, message]) => message.startsWith("Memory limit")));
        const [level, message] = lines.find(([, message]) => message.startsWith("Memory limit"))!;
        assert.equal(level, "error");
        if (path === "kernel") {
          assert.equal(
            message,
            `Memory limit exceeded: the process reached its limit of ${limit} MiB, terminated`,
          );
          assert.equal(cgroups!.size, 0, "its cgroup is removed with it");
        } else {
          assert.match(
            message,
            new RegExp(
              `^Memory limit exceeded: the process used \\d+ MiB \\(the limit is ${limit} MiB\\), terminated$`,
            ),
          );
        }
        const again = await tenantGet((await runtime.ensure(deployment)).client);
        assert.equal(again.status, 200, "it starts again");
        await again.body?.cancel();
      } finally {
        await runtime.stopAll();
        await cgroups?.close();
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: `a process booted for a build's check runs at a low CPU weight until it serves${
    noCgroups ? ` [skipped: no cgroups the host can make here: ${noCgroups}]` : ""
  }`,
  ignore: !!noCgroups,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "dt-runtime-weight-" });
    const support = detectCgroups();
    const cgroups = support.kind === "none" ? undefined : support.cgroups;
    const runtime = new Runtime({
      isolation,
      deploymentsDir: root,
      bootstrap,
      deno: tenantDenoBinary(),
      cgroups,
    });
    try {
      for (const id of ["built", "requested"]) {
        const { app } = deploymentDirs(root, id);
        await Deno.mkdir(app, { recursive: true });
        await Deno.writeTextFile(join(app, "main.ts"), BUFFERS_APP);
      }
      const deployment = (id: string) => ({
        id,
        entrypoint: "main.ts",
        envVars: {},
        denoFlags: [],
      });
      await runtime.ensure(deployment("built"), "check");
      assert.equal(runtime.cpuWeight("built"), "low");
      await runtime.ensure(deployment("built"), "check");
      assert.equal(runtime.cpuWeight("built"), "low", "a second check leaves it low");
      runtime.promote("built"); // the build went live
      assert.equal(runtime.cpuWeight("built"), "normal");
      // Its next process (after a stop, a crash) serves from the start.
      await runtime.stop("built");
      await runtime.ensure(deployment("built"));
      assert.equal(runtime.cpuWeight("built"), "normal");

      // A request's cold start, or a request to a process a check started, serves.
      await runtime.ensure(deployment("requested"));
      assert.equal(runtime.cpuWeight("requested"), "normal");
      await runtime.stop("requested");
      await runtime.ensure(deployment("requested"), "check");
      assert.equal(runtime.cpuWeight("requested"), "low");
      await runtime.ensure(deployment("requested"));
      assert.equal(runtime.cpuWeight("requested"), "normal");
    } finally {
      await runtime.stopAll();
      await cgroups?.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
