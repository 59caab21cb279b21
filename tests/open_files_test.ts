/**
 * A tenant cannot hold more open files and sockets than its limit: it inherited the host's hard
 * limit (often 524 288), so one tenant could take a large share of the machine's file handles.
 */
import assert from "node:assert/strict";
import { deployModule, startApiHost } from "./helpers/api_host.ts";
import { rawGetJson } from "./helpers/raw_http.ts";
import { TENANT_OPEN_FILES } from "../host/tenant/sandbox.ts";

Deno.test("a tenant opening files without end stops at its limit, and serves on", async () => {
  await using api = await startApiHost();
  const { host } = await deployModule(
    api,
    "fd-hoarder",
    `const held = [];
Deno.serve(() => {
  let error = "none";
  try {
    while (held.length < ${
      TENANT_OPEN_FILES * 4
    }) held.push(Deno.openSync(new URL(import.meta.url)));
  } catch (e) {
    error = e.name;
  }
  const opened = held.length;
  for (const file of held.splice(0)) file.close();
  return Response.json({ opened, error });
});
`,
  );
  const { opened, error } = await rawGetJson<{ opened: number; error: string }>(
    api.host.port,
    host,
  );
  assert.ok(opened < TENANT_OPEN_FILES, `it held ${opened} files open (${error})`);
  // A lower limit the host runs under stays the tenant's.
  const expected = Math.min(TENANT_OPEN_FILES, hardOpenFileLimit());
  assert.ok(
    opened > expected - 200,
    `it could open only ${opened} of ${expected} files (${error})`,
  );
  // Its limit, not the host's: the host serves on, and so does the tenant once it let go (its
  // own connections take a few of the places).
  const again = await rawGetJson<{ opened: number }>(api.host.port, host);
  assert.ok(Math.abs(again.opened - opened) < 50, `then ${again.opened} (${opened} before)`);
});

/** This process's hard limit of open files (`Infinity` where it cannot be read or is unlimited). */
function hardOpenFileLimit(): number {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const hard = Number(/^Max open files\s+\S+\s+(\d+)/m.exec(limits)?.[1]);
    return Number.isFinite(hard) ? hard : Infinity;
  } catch {
    return Infinity;
  }
}
