import assert from "node:assert/strict";
import { ApiError, DeployTenantError, ExitCode } from "../lib/errors.ts";
import { errorDocument, exitCodeOf, formatBytes, Output } from "../lib/output.ts";
import { deploymentUrl, isLoopback } from "../lib/urls.ts";

Deno.test("deploymentUrl uses http and the API's port for a host on loopback", () => {
  assert.equal(
    deploymentUrl("hooks-abc123.localhost", "http://127.0.0.1:8000/v1"),
    "http://hooks-abc123.localhost:8000/",
  );
  assert.equal(
    deploymentUrl("hooks-abc123.localhost", "http://localhost:41234/v1"),
    "http://hooks-abc123.localhost:41234/",
  );
  assert.equal(
    deploymentUrl("hooks-abc123.localhost", "http://[::1]:9000/v1"),
    "http://hooks-abc123.localhost:9000/",
  );
  assert.equal(
    deploymentUrl("hooks-abc123.deno.dev", "https://api.deno.com/v1"),
    "https://hooks-abc123.deno.dev/",
  );
  assert.equal(isLoopback("127.0.0.53"), true);
  assert.equal(isLoopback("128.0.0.1"), false);
  assert.equal(isLoopback("localhost.example.com"), false);
});

Deno.test("errorDocument carries code, message, hint, status and trace id", () => {
  const apiError = new ApiError(404, "projectNotFound", "Project x was not found.", {
    traceId: "ray-1",
    hint: "Create it first.",
  });
  assert.deepEqual(errorDocument(apiError), {
    error: {
      code: "projectNotFound",
      message: "Project x was not found.",
      hint: "Create it first.",
      status: 404,
      traceId: "ray-1",
    },
  });
  assert.equal(exitCodeOf(apiError), ExitCode.notFound);

  const usage = new DeployTenantError("usage", "bad", { exitCode: ExitCode.usage });
  assert.deepEqual(errorDocument(usage), { error: { code: "usage", message: "bad" } });
  assert.equal(exitCodeOf(usage), ExitCode.usage);

  assert.deepEqual(errorDocument(new TypeError("boom")), {
    error: { code: "internal", message: "boom" },
  });
  assert.equal(exitCodeOf(new TypeError("boom")), ExitCode.failed);
});

Deno.test("Output.table aligns columns and shows a message when empty", () => {
  const out = new Output({ color: false });
  const rows = [{ name: "acme", id: "1" }, { name: "globex-corp", id: "22" }];
  const table = out.table(rows, [
    { header: "NAME", value: (row) => row.name },
    { header: "ID", value: (row) => row.id },
  ]);
  assert.equal(table, "NAME         ID\nacme         1\nglobex-corp  22");
  assert.equal(out.table([], [{ header: "X", value: () => "" }], "nothing"), "nothing");
});

Deno.test("Output.table aligns coloured cells by what they show, not their escape codes", () => {
  const out = new Output({ color: false });
  // What out.status() and out.green() give on a colour terminal.
  const green = (text: string) => `\x1b[32m${text}\x1b[39m`;
  const rows = [
    { id: "aaaaaaaaaaaa", status: green("success") + " production", created: "2026-12-07" },
    { id: "bbbbbbbbbbbb", status: `\x1b[31mfailed\x1b[39m`, created: "2026-12-08" },
  ];
  const table = out.table(rows, [
    { header: "ID", value: (row) => row.id },
    { header: "STATUS", value: (row) => row.status },
    { header: "CREATED", value: (row) => row.created },
  ]);
  // deno-lint-ignore no-control-regex
  const seen = table.replaceAll(/\x1b\[[0-9;]*m/g, "").split("\n");
  assert.deepEqual(seen, [
    "ID            STATUS              CREATED",
    "aaaaaaaaaaaa  success production  2026-12-07",
    "bbbbbbbbbbbb  failed              2026-12-08",
  ]);
});

Deno.test("formatBytes picks a readable unit", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(5 * 1024 ** 3), "5.0 GiB");
});
