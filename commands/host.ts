/**
 * `host [run]|start|stop|status`: the local host, in the foreground or in the background.
 *
 * The host itself (`host/mod.ts`, which pulls in the server, SQLite and the sandbox) is
 * imported only when `host run` runs, so other commands start fast.
 *
 * @module
 */
import { Command } from "commander";
import { hostDataDir } from "../lib/config.ts";
import { DeployTenantError, ExitCode } from "../lib/errors.ts";
import {
  findRunningHost,
  type HostInfo,
  hostLogPath,
  isHostHealthy,
  isProcessAlive,
  readHostInfo,
  startBackgroundHost,
  stopBackgroundHost,
} from "../lib/local_host.ts";
import type { Output } from "../lib/output.ts";
import { globalOptions, outputFor, usageError } from "./context.ts";

/** Env var carrying the host's token to a background host (argv is visible to `ps`). */
const HOST_TOKEN_ENV = "DEPLOY_TENANT_HOST_TOKEN";

interface HostFlags {
  port: string;
  hostname?: string;
  dataDir?: string;
  baseDomain?: string;
  unsandboxed?: boolean;
}

/** The `host` command group; `host` alone runs the host in the foreground. */
export function hostCommand(): Command {
  const host = new Command("host")
    .description("Run the local host: the Subhosting API and its deployments on this machine")
    .addHelpText(
      "after",
      `
With no API configured, other commands use the host running on the data directory
(DEPLOY_TENANT_DATA_DIR, default ~/.local/share/deploy-tenant) and start it in the
background when it is not running.

Examples:
  $ deploy-tenant host                       # foreground on port 8000, Ctrl-C stops it
  $ deploy-tenant host --port 0 --data-dir /tmp/dt
  $ deploy-tenant host start && deploy-tenant host status
  $ deploy-tenant host stop`,
    );

  host.command("run", { isDefault: true })
    .description("Run the host in the foreground until SIGINT or SIGTERM (the default)")
    .option("--port <port>", "port to listen on; 0 picks a free one", "8000")
    .option("--hostname <address>", "interface to listen on (default 127.0.0.1)")
    .option("--data-dir <dir>", "where projects, files and deployments are kept")
    .option("--base-domain <domain>", "deployments answer on <project>-<id>.<domain>", "localhost")
    .option("--unsandboxed", "run tenants without an OS sandbox when none is available")
    .addHelpText(
      "after",
      `\nThe global --token (or ${HOST_TOKEN_ENV}) sets the token the API accepts; by\n` +
        "default one is generated and kept in the data directory. Clients find it in\n" +
        "<data-dir>/host.json (readable by you only).",
    )
    .action(async function (this: Command, flags: HostFlags) {
      const out = outputFor(this);
      const dataDir = flags.dataDir ?? hostDataDir();
      const port = parsePort(this, flags.port);
      const token = globalOptions(this).token || Deno.env.get(HOST_TOKEN_ENV) || undefined;
      const { startHost } = await import("../host/mod.ts");
      let running;
      try {
        running = await startHost({
          port,
          hostname: flags.hostname,
          dataDir,
          token,
          baseDomain: flags.baseDomain,
          unsandboxed: flags.unsandboxed,
          log: (line) => out.info(`${new Date().toISOString()} ${line}`),
        });
      } catch (error) {
        if (error instanceof Deno.errors.AddrInUse) {
          throw new DeployTenantError("portInUse", `Port ${port} is already in use`, {
            hint: "Pass --port with another port (0 picks a free one), or stop what uses it.",
            exitCode: ExitCode.unavailable,
          });
        }
        throw error;
      }
      const { token: _token, shutdown, finished, ...shown } = running;
      out.result({ ...shown, pid: Deno.pid }, () => "");
      out.info(
        `deploy-tenant host: API at ${running.apiUrl}, deployments at ` +
          `http://<project>-<id>.${running.baseDomain}:${running.port}/ (data: ${dataDir})`,
      );

      const signals: Deno.Signal[] = Deno.build.os === "windows"
        ? ["SIGINT"]
        : ["SIGINT", "SIGTERM"];
      let onSignal = () => {};
      const stopped = new Promise<void>((resolve) => onSignal = resolve);
      for (const signal of signals) Deno.addSignalListener(signal, onSignal);
      await Promise.race([stopped, finished]);
      out.info("deploy-tenant host: shutting down");
      await shutdown();
      for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    });

  host.command("start")
    .description("Start the host in the background (a no-op when it is running)")
    .option("--port <port>", "port to listen on; 0 picks a free one", "8000")
    .option("--data-dir <dir>", "where projects, files and deployments are kept")
    .option("--base-domain <domain>", "deployments answer on <project>-<id>.<domain>")
    .option("--unsandboxed", "run tenants without an OS sandbox when none is available")
    .action(async function (this: Command, flags: HostFlags) {
      const out = outputFor(this);
      const dataDir = flags.dataDir ?? hostDataDir();
      const port = parsePort(this, flags.port);
      const running = await findRunningHost(dataDir);
      if (running) {
        out.result(
          statusDocument(running, dataDir, true),
          () => `The local host is already running at ${running.apiUrl} (pid ${running.pid})`,
        );
        return;
      }
      const args: string[] = [];
      if (flags.baseDomain) args.push("--base-domain", flags.baseDomain);
      if (flags.unsandboxed) args.push("--unsandboxed");
      const token = globalOptions(this).token;
      if (token) Deno.env.set(HOST_TOKEN_ENV, token); // inherited by the child only
      const info = await startBackgroundHost({ dataDir, port, args });
      out.result(
        statusDocument(info, dataDir, true),
        () =>
          `Started the local host at ${info.apiUrl} (pid ${info.pid}, logs: ${
            hostLogPath(dataDir)
          })`,
      );
    });

  host.command("stop")
    .description("Stop the background host")
    .option("--data-dir <dir>", "the data directory of the host to stop")
    .action(async function (this: Command, flags: Pick<HostFlags, "dataDir">) {
      const out = outputFor(this);
      const dataDir = flags.dataDir ?? hostDataDir();
      const stopped = await stopBackgroundHost(dataDir);
      out.result(
        { stopped: stopped !== undefined, pid: stopped?.pid ?? null, dataDir },
        () =>
          stopped
            ? `Stopped the local host (pid ${stopped.pid})`
            : `No local host is running on ${dataDir}`,
      );
    });

  host.command("status")
    .description("Show whether the host is running and healthy (exit code 6 when not)")
    .option("--data-dir <dir>", "the data directory of the host")
    .action(async function (this: Command, flags: Pick<HostFlags, "dataDir">) {
      const out = outputFor(this);
      const dataDir = flags.dataDir ?? hostDataDir();
      const info = await readHostInfo(dataDir);
      if (!info || !isProcessAlive(info.pid)) {
        throw new DeployTenantError("hostNotRunning", `No local host is running on ${dataDir}`, {
          hint:
            "Start it with `deploy-tenant host start` (or `deploy-tenant host` in the foreground).",
          exitCode: ExitCode.unavailable,
        });
      }
      const healthy = await isHostHealthy(info);
      out.result(
        statusDocument(info, dataDir, healthy),
        () => describeStatus(out, info, dataDir, healthy),
      );
      if (!healthy) {
        throw new DeployTenantError(
          "hostUnhealthy",
          `The local host (pid ${info.pid}) does not answer at ${info.apiUrl}`,
          { hint: `See ${hostLogPath(dataDir)}.`, exitCode: ExitCode.unavailable },
        );
      }
    });

  return host;
}

function parsePort(command: Command, value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw usageError(command, `Invalid port "${value}": expected 0-65535`);
  }
  return port;
}

/** What `host status --json` prints; never the token. */
function statusDocument(info: HostInfo, dataDir: string, healthy: boolean) {
  const { token: _token, ...shown } = info;
  return { running: true, healthy, ...shown, dataDir, logPath: hostLogPath(dataDir) };
}

function describeStatus(out: Output, info: HostInfo, dataDir: string, healthy: boolean): string {
  return out.fields([
    ["api", info.apiUrl],
    ["pid", String(info.pid)],
    ["data dir", dataDir],
    ["healthy", healthy ? out.green("yes") : out.red("no")],
    ["base domain", info.baseDomain],
    ["isolation", info.isolation],
    ["logs", hostLogPath(dataDir)],
  ]);
}
