import assert from "node:assert/strict";
import { join } from "node:path";
import { findProgram, hasProgram, installHint } from "../lib/programs.ts";

Deno.test("findProgram finds a program on PATH and answers undefined, never throws, without", () => {
  assert.match(findProgram("sh") ?? "", /^\/.*\/sh$/);
  assert.equal(findProgram("no-such-program-here"), undefined);
  assert.equal(hasProgram("no-such-program-here"), false);
  assert.equal(findProgram("/no/such/dir/prog"), undefined);
  assert.equal(findProgram(""), undefined);
});

Deno.test("findProgram skips files that are not executable and looks in sbin beyond PATH", async () => {
  const dir = await Deno.makeTempDir();
  const path = Deno.env.get("PATH");
  try {
    await Deno.writeTextFile(join(dir, "dt-tool"), "#!/bin/sh\n");
    Deno.env.set("PATH", dir);
    assert.equal(findProgram("dt-tool"), undefined, "not executable");
    await Deno.chmod(join(dir, "dt-tool"), 0o755);
    assert.equal(findProgram("dt-tool"), join(dir, "dt-tool"));
    Deno.env.set("PATH", "");
    assert.equal(findProgram("dt-tool"), undefined);
    // Debian puts daemons in /usr/sbin, which a user's PATH may lack.
    const inSbin = ["/usr/sbin", "/sbin"].flatMap((d) => {
      try {
        return [...Deno.readDirSync(d)].filter((e) => e.isFile).map((e) => e.name).slice(0, 1);
      } catch {
        return [];
      }
    })[0];
    if (inSbin) assert.ok(findProgram(inSbin), `${inSbin} from sbin`);
  } finally {
    if (path === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", path);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("installHint names the program, what it is for and its Debian package", () => {
  assert.equal(
    installHint("bwrap"),
    "bwrap (the OS sandbox around each tenant): sudo apt-get install bubblewrap",
  );
  assert.match(installHint("some-tool"), /^some-tool: install it/);
});
