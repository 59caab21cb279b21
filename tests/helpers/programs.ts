/**
 * Tests that need a program this machine may lack (a shell, HAProxy, bubblewrap …) are skipped
 * where it is missing, and say so in their name: which program, what for, how to install it.
 *
 * @module
 */
import { hasProgram, installHint } from "../../lib/programs.ts";

/**
 * `test`, ignored when any of `programs` is missing, its name then ending with
 * `[skipped: needs fish (fish completions): sudo apt-get install fish]`. A test whose own
 * `ignore` holds stays ignored where the programs are present.
 */
export function requires<T extends { name: string; ignore?: boolean }>(
  programs: string[],
  test: T,
): T {
  const missing = programs.filter((program) => !hasProgram(program));
  if (missing.length === 0) return test;
  return {
    ...test,
    name: `${test.name} [skipped: needs ${missing.map(installHint).join("; ")}]`,
    ignore: true,
  };
}

/**
 * A directory of links to every program on `PATH` but `hidden`: run a host with
 * `PATH=<it>` to see what a machine without them does. The caller removes it.
 */
export async function pathWithout(hidden: string[]): Promise<string> {
  const binDir = await Deno.makeTempDir({ prefix: "dt-path-without-" });
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    const entries = await Array.fromAsync(Deno.readDir(dir)).catch(() => []);
    for (const { name } of entries) {
      if (hidden.includes(name)) continue;
      await Deno.symlink(`${dir}/${name}`, `${binDir}/${name}`).catch(() => {}); // first wins
    }
  }
  return binDir;
}
