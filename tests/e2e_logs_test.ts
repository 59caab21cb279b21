/**
 * `logs` against a real local host: console output with its levels, filters, past mode by
 * time, following live lines, and uncaught errors with the host's events about them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli, startTestHost, type TestHost } from "./helpers/host.ts";
import { MAIN_TS } from "./helpers/cli.ts";
import type { AppLogEntry, Deployment } from "../lib/types.ts";

const APP = `
Deno.serve((request) => {
  const url = new URL(request.url);
  const tag = url.searchParams.get("tag") ?? "untagged";
  if (url.pathname === "/crash") {
    setTimeout(() => { throw new Error("crash " + tag); });
    return new Response("crashing");
  }
  console.log("log " + tag, { lead: 42 });
  console.info("info " + tag);
  console.warn("warn " + tag);
  console.error("error " + tag + "\\nsecond line");
  console.debug("debug " + tag);
  return new Response("logged " + tag);
});
`;

/** Parses `logs --json` output: one JSON object per line. */
function entriesOf(stdout: string): AppLogEntry[] {
  return stdout.split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
}

/** Retries `check` until it passes: log lines reach the host a moment after the response. */
async function eventually<T>(check: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function deployApp(host: TestHost, cli: (...args: string[]) => ReturnType<typeof runCli>) {
  const dir = join(host.tempDir, "app");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "main.ts"), APP);
  assert.equal((await cli("project", "create", "log-hook")).code, 0);
  const deployed = await cli("deploy", dir, "--project", "log-hook", "--json");
  assert.equal(deployed.code, 0, describe(deployed));
  return jsonOf<Deployment>(deployed);
}

Deno.test("logs: levels, filters, past mode, follow, and uncaught errors", async (t) => {
  await using host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  const deployment = await deployApp(host, cli);
  const id = deployment.id;
  const invoke = async (path: string) => {
    const result = await cli("invoke", id, path);
    assert.equal(result.code, 0, describe(result));
    return result.stdout;
  };

  await t.step("console.log/info/warn/error/debug show up with their levels", async () => {
    assert.equal(await invoke("/?tag=one"), "logged one");
    const entries = await eventually(async () => {
      const result = await cli("logs", id, "--json");
      assert.equal(result.code, 0, describe(result));
      const entries = entriesOf(result.stdout).filter((entry) => /one/.test(entry.message));
      assert.equal(entries.length, 5, describe(result));
      return entries;
    });
    assert.deepEqual(entries.map((entry) => [entry.level, entry.message]), [
      ["info", "log one { lead: 42 }"],
      ["info", "info one"],
      ["warning", "warn one"],
      ["error", "error one\nsecond line"],
      ["debug", "debug one"],
    ]);
    for (const entry of entries) {
      assert.equal(entry.region, "local");
      assert.ok(Date.now() - Date.parse(entry.time) < 60_000, entry.time);
    }
  });

  await t.step("--level error shows only errors; --grep matches text", async () => {
    const errors = entriesOf((await cli("logs", id, "--level", "error", "--json")).stdout);
    assert.ok(errors.length >= 1);
    assert.ok(errors.every((entry) => entry.level === "error"), JSON.stringify(errors));
    const warnings = entriesOf(
      (await cli("logs", id, "--level", "warn,error", "--grep", "WARN ONE", "--json")).stdout,
    );
    assert.deepEqual(warnings.map((entry) => entry.message), ["warn one"]);
    const bad = await cli("logs", id, "--level", "fatal");
    assert.equal(bad.code, 2, describe(bad));
  });

  await t.step("--since shows only what was logged after it", async () => {
    const since = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await invoke("/?tag=two");
    const entries = await eventually(async () => {
      const entries = entriesOf((await cli("logs", id, "--since", since, "--json")).stdout);
      assert.ok(entries.some((entry) => entry.message === "debug two"), JSON.stringify(entries));
      return entries;
    });
    assert.ok(entries.every((entry) => !entry.message.includes("one")), JSON.stringify(entries));
    const relative = entriesOf((await cli("logs", id, "--since", "1h", "--json")).stdout);
    assert.ok(relative.some((entry) => entry.message === "info one"));
    const limited = entriesOf((await cli("logs", id, "--limit", "2", "--json")).stdout);
    assert.deepEqual(limited.map((entry) => entry.message), [
      "error two\nsecond line",
      "debug two",
    ]);
  });

  await t.step("people get time, level and message, one line each", async () => {
    const result = await cli("logs", id, "--grep", "two");
    assert.equal(result.code, 0, describe(result));
    assert.match(result.stdout, /^\S+Z warning warn two$/m);
    assert.match(result.stdout, /^\S+Z error {3}error two\n {33}second line$/m);
  });

  await t.step("--follow prints lines logged after it started", async () => {
    const follower = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN_TS, "logs", id, "--follow", "--json", "--grep", "follow"],
      env: { ...host.env, DEPLOY_TENANT_AUTOSTART: "0", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let output = "";
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of follower.stdout) output += decoder.decode(chunk);
    })();
    const errors = new Response(follower.stderr).text();
    try {
      // The follower subscribes when it has started: call until a line comes through.
      await eventually(async () => {
        await invoke(`/?tag=follow-${Date.now()}`);
        assert.match(output, /"level":"warning","message":"warn follow-\d+"/);
      }, 30_000);
    } finally {
      follower.kill("SIGTERM");
      await follower.status;
      await reading;
    }
    const lines = entriesOf(output);
    assert.ok(lines.every((entry) => entry.message.includes("follow")), await errors);
    assert.ok(!output.includes("one"), "follow without --since prints only new lines");
  });

  await t.step("an uncaught error is logged whole, then the crash and the restart", async () => {
    assert.equal(await invoke("/crash?tag=three"), "crashing");
    const entries = await eventually(async () => {
      const entries = entriesOf((await cli("logs", id, "--since", "1m", "--json")).stdout);
      assert.ok(entries.some((entry) => /exited with code 1/.test(entry.message)));
      return entries;
    });
    const uncaught = entries.find((entry) => entry.message.includes("crash three"));
    assert.equal(uncaught?.level, "error");
    assert.match(uncaught!.message, /^Uncaught Error: crash three\n\s+at /);
    const crash = entries.find((entry) => /exited with code 1/.test(entry.message))!;
    assert.equal(crash.level, "error");
    assert.match(crash.message, /restarts on the next request/);
    // The next request starts a fresh process, which logs its start.
    assert.equal(await invoke("/?tag=four"), "logged four");
    await eventually(async () => {
      const latest = entriesOf((await cli("logs", id, "--since", crash.time, "--json")).stdout);
      assert.ok(latest.some((entry) => /^isolate start time: [\d.]+ ms$/.test(entry.message)));
    });
  });
});
