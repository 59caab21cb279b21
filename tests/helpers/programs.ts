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
