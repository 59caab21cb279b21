/**
 * Work done in the tenant's own process before it becomes the tenant: a `/bin/sh` runs a few
 * lines (join a cgroup, set a limit), then `exec`s the command, so the pid and everything it
 * starts stay the same. A command that is already a `/bin/sh -c` script gets the lines in front
 * of its script rather than a second shell.
 *
 * @module
 */

/** The shell every tenant start goes through. */
export const SHELL = "/bin/sh";

/**
 * `command` with the shell lines `prelude` run first; `args` go to the prelude as `$1…`, in
 * front of the command's own (the prelude must `shift` them away).
 */
export function withShellPrelude<T extends { command: string; args: string[] }>(
  command: T,
  prelude: string,
  args: string[] = [],
): T {
  if (command.command === SHELL && command.args[0] === "-c") {
    const [, script, name, ...rest] = command.args;
    return { ...command, args: ["-c", prelude + script, name, ...args, ...rest] };
  }
  return {
    ...command,
    command: SHELL,
    args: ["-c", `${prelude}exec "$@"`, "sh", ...args, command.command, ...command.args],
  };
}
