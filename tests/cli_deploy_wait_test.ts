/**
 * `waitForBuild`: following the build log, falling back to polling, and the time limit.
 * The API is an in-memory `DeployApi`: these tests are about the waiting logic, not HTTP.
 */
import assert from "node:assert/strict";
import {
  buildErrorOf,
  type BuildStatusApi,
  type DeployEvent,
  waitForBuild,
} from "../lib/deploy.ts";
import { ApiError, DeployTenantError, NetworkError } from "../lib/errors.ts";
import type { BuildLogEntry, Deployment, DeploymentStatus } from "../lib/types.ts";

interface Script {
  /** Lines the stream yields before it ends or fails. */
  lines: BuildLogEntry[];
  /** Whether the stream fails after its lines. */
  drops: boolean;
  /** Statuses `get()` answers, one per call; the last one repeats. */
  statuses: DeploymentStatus[];
  /** What `buildLogs()` answers. */
  fullLog?: BuildLogEntry[];
}

function fakeApi(script: Script): BuildStatusApi & { gets: () => number } {
  let gets = 0;
  const deployment = (status: DeploymentStatus): Deployment => ({
    id: "abcde12vwxyz",
    projectId: "p",
    status,
    databases: {},
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
  });
  return {
    gets: () => gets,
    deployments: {
      get: () => {
        const status = script.statuses[Math.min(gets, script.statuses.length - 1)];
        gets++;
        return Promise.resolve(deployment(status));
      },
      buildLogs: () => Promise.resolve(script.fullLog ?? script.lines),
      async *streamBuildLogs() {
        yield* script.lines;
        if (script.drops) throw new NetworkError("connection reset");
      },
    },
  };
}

Deno.test("waitForBuild follows the log to the end of a successful build", async () => {
  const api = fakeApi({
    lines: [{ level: "info", message: "Deployed" }],
    drops: false,
    statuses: ["success"],
  });
  const events: DeployEvent[] = [];
  const result = await waitForBuild(api, "abcde12vwxyz", { onProgress: (e) => events.push(e) });
  assert.equal(result.deployment.status, "success");
  assert.deepEqual(result.buildLogs, [{ level: "info", message: "Deployed" }]);
  assert.equal(result.buildError, undefined);
  assert.deepEqual(events.map((e) => e.type), ["buildLog"]);
});

Deno.test("waitForBuild polls the status when the log stream drops", async () => {
  const api = fakeApi({
    lines: [{ level: "info", message: "Materialised 2 assets" }],
    drops: true,
    statuses: ["pending", "pending", "failed"],
    fullLog: [
      { level: "info", message: "Materialised 2 assets" },
      { level: "error", message: "Uncaught Error: boom" },
      { level: "error", message: "The deployment exited with code 1" },
    ],
  });
  const events: DeployEvent[] = [];
  const result = await waitForBuild(api, "abcde12vwxyz", {
    pollIntervalMs: 1,
    onProgress: (e) => events.push(e),
  });
  assert.equal(result.deployment.status, "failed");
  assert.equal(api.gets(), 3);
  // The stream could not be reached: one note, and the status answered at once.
  assert.deepEqual(events.filter((e) => e.type !== "buildLog").map((e) => e.type), [
    "unreachable",
    "reachable",
  ]);
  assert.equal(result.buildError, "Uncaught Error: boom\nThe deployment exited with code 1");
});

Deno.test("waitForBuild gives up after the time limit with buildTimeout", async () => {
  const api = fakeApi({ lines: [], drops: false, statuses: ["pending"] });
  await assert.rejects(
    waitForBuild(api, "abcde12vwxyz", { timeoutMs: 50, pollIntervalMs: 5 }),
    (error: unknown) => {
      assert.ok(error instanceof DeployTenantError);
      assert.equal(error.code, "buildTimeout");
      assert.match(error.hint!, /deployments show abcde12vwxyz/);
      return true;
    },
  );
});

/** An API whose status answers fail with `error` `failures` times (or always), then `success`. */
function unreachableApi(failures: number, error: Error): BuildStatusApi {
  let gets = 0;
  return {
    deployments: {
      get: () => {
        if (gets++ < failures) return Promise.reject(error);
        return Promise.resolve({
          id: "abcde12vwxyz",
          projectId: "p",
          status: "success",
          databases: {},
          createdAt: "2026-01-01T00:00:00Z",
          updatedAt: "2026-01-01T00:00:00Z",
        });
      },
      buildLogs: () => Promise.resolve([]),
      // deno-lint-ignore require-yield
      async *streamBuildLogs() {
        throw error;
      },
    },
  };
}

Deno.test("waitForBuild waits through an API that is away for a while (a host restart)", async () => {
  for (const error of [new NetworkError("refused"), new ApiError(503, "httpError", "HAProxy")]) {
    const events: DeployEvent[] = [];
    const result = await waitForBuild(unreachableApi(3, error), "abcde12vwxyz", {
      pollIntervalMs: 1,
      onProgress: (e) => events.push(e),
    });
    assert.equal(result.deployment.status, "success");
    assert.deepEqual(events.map((e) => e.type), ["unreachable", "reachable"], "one note");
  }
});

Deno.test("waitForBuild gives up on an API away too long, saying the deployment exists", async () => {
  await assert.rejects(
    waitForBuild(unreachableApi(Infinity, new NetworkError("refused")), "abcde12vwxyz", {
      pollIntervalMs: 1,
      unreachableMs: 30,
    }),
    (error: unknown) => {
      assert.ok(error instanceof NetworkError);
      assert.equal(error.exitCode, 6);
      assert.match(error.message, /Deployment abcde12vwxyz was created/);
      assert.match(error.message, /its build may still finish/);
      assert.match(error.hint!, /deploy-tenant logs abcde12vwxyz --build/);
      assert.match(error.hint!, /deploy-tenant deployments show abcde12vwxyz/);
      return true;
    },
  );
});

Deno.test("waitForBuild does not wait on an API that answers no", async () => {
  const notFound = new ApiError(404, "deploymentNotFound", "gone");
  await assert.rejects(
    waitForBuild(unreachableApi(Infinity, notFound), "abcde12vwxyz", { pollIntervalMs: 1 }),
    (error: unknown) => error === notFound,
  );
});

Deno.test("buildErrorOf falls back to the last line when no line is an error", () => {
  assert.equal(
    buildErrorOf([{ level: "info", message: "a" }, { level: "info", message: "b" }]),
    "b",
  );
  assert.match(buildErrorOf([]), /no build log/);
});
