/**
 * Ctrl-C or SIGTERM (a cancelled CI job, `timeout`, a stopped container) during a command that
 * creates a deployment: a build goes on on the server without the CLI, so it says what exists
 * and how to follow it, then exits as shells report the signal (130 or 143).
 *
 * @module
 */
import { DeployTenantError, ExitCode } from "../lib/errors.ts";
import type { Output } from "../lib/output.ts";

/** The signals that stop a command. */
export type StopSignal = "SIGINT" | "SIGTERM";

/**
 * What a stop signal says: the deployment that exists and how to follow its build, or that
 * `nothing` happened when none was created yet.
 */
export function interruptedError(
  deploymentId: string | undefined,
  signal: StopSignal = "SIGINT",
  nothing = "nothing was deployed",
): DeployTenantError {
  const [stopped, exitCode] = signal === "SIGINT"
    ? ["Interrupted", ExitCode.interrupted]
    : ["Terminated (SIGTERM)", ExitCode.terminated];
  if (deploymentId === undefined) {
    return new DeployTenantError("interrupted", `${stopped}: ${nothing}`, { exitCode });
  }
  return new DeployTenantError(
    "interrupted",
    `${stopped}: deployment ${deploymentId} exists and its build goes on on the server`,
    {
      hint: `Follow it with \`deploy-tenant logs ${deploymentId} --build\`, or see it with ` +
        `\`deploy-tenant deployments show ${deploymentId}\`.`,
      exitCode,
    },
  );
}

/**
 * Until the returned function is called, SIGINT and SIGTERM print what `said(signal)` returns
 * and exit with its code.
 */
export function onStopSignals(out: Output, said: (signal: StopSignal) => DeployTenantError) {
  const listeners = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const listener = () => {
      const error = said(signal);
      out.error(error);
      Deno.exit(error.exitCode);
    };
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  return (): void => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
}
