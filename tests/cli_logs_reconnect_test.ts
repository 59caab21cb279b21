/**
 * `logs --follow` when the log stream is cut (the host crashed or restarted, a proxy timed the
 * connection out): it says so once, reconnects, and goes on with what was logged meanwhile,
 * instead of dying with a stack trace (a cut connection) or ending quietly (a closed stream).
 */
import assert from "node:assert/strict";
import { cleanEnv, MAIN_TS } from "./helpers/cli.ts";
import { deployApp, describe, runCli, startTestHost } from "./helpers/host.ts";

Deno.test("logs --follow survives its host crashing and starting again", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "deploy-tenant-reconnect-" });
  let host = await startTestHost({ dataDir });
  let follower: Deno.ChildProcess | undefined;
  try {
    const { id } = await deployApp(
      host,
      "follower",
      `export default {
  fetch(request: Request) {
    console.log("hit " + new URL(request.url).pathname);
    return new Response("ok");
  },
};`,
    );
    const env = host.env;

    follower = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN_TS, "logs", id, "--follow"],
      env: { ...cleanEnv(), ...env, NO_COLOR: "1", DEPLOY_TENANT_AUTOSTART: "0" },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = collect(follower.stdout);
    const stderr = collect(follower.stderr);
    const invoke = async (path: string) => {
      const result = await runCli(["invoke", id, path], { env });
      assert.equal(result.code, 0, describe(result));
    };
    const waitFor = async (text: string) => {
      const deadline = Date.now() + 30_000;
      while (!stdout.text().includes(text)) {
        if (Date.now() > deadline) {
          throw new Error(`no "${text}" in:\n${stdout.text()}\n--- stderr\n${stderr.text()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };

    // Until the first line arrives, the follower may not have subscribed yet: keep calling.
    for (let i = 0; !stdout.text().includes("hit /before"); i++) {
      assert.ok(i < 100, `no line followed:\n${stderr.text()}`);
      await invoke("/before");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    const port = host.port;
    await host.stop("SIGKILL");
    host = await startTestHost({ dataDir, args: ["--port", String(port)] });
    await invoke("/after");
    await waitFor("hit /after");

    follower.kill("SIGINT");
    const status = await follower.status;
    follower = undefined;
    assert.match(stderr.text(), /log stream was cut.*reconnecting/i);
    assert.doesNotMatch(stderr.text(), /^\s+at /m, "no stack trace");
    assert.equal(status.code, 0, stderr.text());
  } finally {
    try {
      follower?.kill("SIGKILL");
    } catch { /* it exited on its own: the assertion above says how */ }
    await follower?.status;
    await host.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

/** Reads `stream` to the end in the background; `text()` is what came so far. */
function collect(stream: ReadableStream<Uint8Array>) {
  let text = "";
  const done = stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (text += chunk) }),
  );
  return { text: () => text, done };
}
