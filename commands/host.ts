/**
 * `host [run]|start|stop|status`: the local host, in the foreground or in the background.
 *
 * The host itself (`host/mod.ts`, which pulls in the server, SQLite and the sandbox) is
 * imported only when `host run` runs, so other commands start fast.
 *
 * @module
 */
import { Command } from "commander";
import { X509Certificate } from "node:crypto";
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
  startBackgroundHostOnAnyPort,
  stopBackgroundHost,
} from "../lib/local_host.ts";
import type { Output } from "../lib/output.ts";
import type { Quotas } from "../host/api/quotas.ts";
import { parseDuration } from "../lib/time.ts";
import { collect, globalOptions, outputFor, usageError } from "./context.ts";

/** Env var carrying the host's token to a background host (argv is visible to `ps`). */
const HOST_TOKEN_ENV = "DEPLOY_TENANT_HOST_TOKEN";

interface HostFlags {
  port: string;
  hostname?: string;
  dataDir?: string;
  baseDomain?: string;
  unsandboxed?: boolean;
  httpsPort?: string;
  trustDomain?: string[];
  dnsResolver?: string;
  logRetention?: string;
  logBudget?: string;
  logRate?: string;
  frontProxy?: boolean;
  cgroups?: boolean;
  maxWarm?: string;
  warmPool?: string;
  warmPoolMemory?: string;
  quota?: string[];
  allowPrivateNet?: boolean;
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
  $ deploy-tenant host status --json
  $ deploy-tenant host stop`,
    );

  addHostSettings(
    host.command("run", { isDefault: true })
      .description("Run the host in the foreground until SIGINT or SIGTERM (the default)")
      .option("--port <port>", "port to listen on; 0 picks a free one", "8000")
      .option("--hostname <address>", "interface to listen on (default 127.0.0.1)")
      .option("--data-dir <dir>", "where projects, files and deployments are kept")
      .option(
        "--base-domain <domain>",
        "deployments answer on <project>-<id>.<domain>",
        "localhost",
      ),
  )
    .addHelpText(
      "after",
      `\nThe global --token (or ${HOST_TOKEN_ENV}) sets the token the API accepts; by\n` +
        "default one is generated and kept in the data directory. Clients find it in\n" +
        "<data-dir>/host.json (readable by you only). The host takes only the token it was\n" +
        "started with: to revoke a leaked one, start it with another (or edit that file).\n\n" +
        "With --https-port, custom domains are served with their certificates and names under\n" +
        "the base domain with certificates from the host's CA (`deploy-tenant host ca`).\n" +
        "--trust-domain verifies names under a suffix nobody owns on the Internet (test,\n" +
        "localhost) without DNS: anyone with API access may claim them.\n\n" +
        "When HAProxy is installed it takes the port and forwards requests to running\n" +
        "deployments itself (much faster); `host status` shows the data path in use.",
    )
    .action(async function (this: Command, flags: HostFlags) {
      const out = outputFor(this);
      const dataDir = flags.dataDir ?? hostDataDir();
      const port = parsePort(this, flags.port);
      const httpsPort = flags.httpsPort === undefined
        ? undefined
        : parsePort(this, flags.httpsPort);
      const dnsResolver = flags.dnsResolver === undefined
        ? undefined
        : parseResolver(this, flags.dnsResolver);
      const logRetentionMs = parseRetention(this, flags.logRetention);
      const maxLogBytesPerDeployment = parseSize(this, "--log-budget", flags.logBudget);
      const maxLogBytesPerSecond = parseSize(this, "--log-rate", flags.logRate);
      const maxWarm = parseMaxWarm(this, flags.maxWarm);
      const warmPool = parseWarmPool(this, flags.warmPool);
      const warmPoolMemory = parseSize(this, "--warm-pool-memory", flags.warmPoolMemory);
      const quotas = parseQuotas(this, flags.quota);
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
          httpsPort,
          trustDomains: flags.trustDomain,
          dnsResolver,
          logRetentionMs,
          maxLogBytesPerDeployment,
          maxLogBytesPerSecond,
          maxWarm,
          warmPool,
          warmPoolMemoryMb: warmPoolMemory && warmPoolMemory / 2 ** 20,
          quotas,
          frontProxy: flags.frontProxy,
          cgroups: flags.cgroups,
          allowPrivateNet: flags.allowPrivateNet,
          log: (line) => out.info(`${new Date().toISOString()} ${line}`),
        });
      } catch (error) {
        // The public port (Deno.serve or HAProxy) fails with Deno's AddrInUse; the HTTPS
        // port's node:https server with a node-style EADDRINUSE (Deno's errors have that
        // code too, so this order matters).
        if (error instanceof Deno.errors.AddrInUse) {
          throw new DeployTenantError("portInUse", `Port ${port} is already in use`, {
            hint: "Pass --port with another port (0 picks a free one), or stop what uses it.",
            exitCode: ExitCode.unavailable,
          });
        }
        if ((error as { code?: string }).code === "EADDRINUSE") {
          throw new DeployTenantError("portInUse", `HTTPS port ${httpsPort} is already in use`, {
            hint: "Pass --https-port with another port (0 picks a free one).",
            exitCode: ExitCode.unavailable,
          });
        }
        if ((error as Error).name === "DataDirInUseError") {
          throw new DeployTenantError("hostRunning", (error as Error).message, {
            hint: "`deploy-tenant host status` shows it; `host stop` stops it.",
            exitCode: ExitCode.conflict,
          });
        }
        throw error;
      }
      const { token: _token, shutdown, finished, ...shown } = running;
      out.result({ ...shown, pid: Deno.pid }, () => "");
      out.info(
        `deploy-tenant host: API at ${running.apiUrl} (v2: ${running.apiV2Url}), deployments at ` +
          `http://<project>-<id>.${running.baseDomain}:${running.port}/ (data: ${dataDir})`,
      );
      if (running.httpsPort !== undefined) {
        out.info(`deploy-tenant host: HTTPS on port ${running.httpsPort}`);
      }

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
      // Everything is stored and every tenant stopped; don't wait for idle keep-alive
      // connections of clients to time out.
      Deno.exit(0);
    });

  addHostSettings(
    host.command("start")
      .description("Start the host in the background (a no-op when it is running)")
      .option(
        "--port <port>",
        "port to listen on; 0 picks a free one (unset: 8000, or a free one when 8000 is taken)",
        "8000",
      )
      .option("--hostname <address>", "interface to listen on (default 127.0.0.1)")
      .option("--data-dir <dir>", "where projects, files and deployments are kept")
      .option("--base-domain <domain>", "deployments answer on <project>-<id>.<domain>"),
  )
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
      if (flags.hostname) args.push("--hostname", flags.hostname);
      if (flags.baseDomain) args.push("--base-domain", flags.baseDomain);
      if (flags.unsandboxed) args.push("--unsandboxed");
      if (flags.httpsPort !== undefined) {
        args.push("--https-port", String(parsePort(this, flags.httpsPort)));
      }
      for (const suffix of flags.trustDomain ?? []) args.push("--trust-domain", suffix);
      if (flags.dnsResolver !== undefined) {
        parseResolver(this, flags.dnsResolver);
        args.push("--dns-resolver", flags.dnsResolver);
      }
      if (flags.logRetention !== undefined) {
        parseRetention(this, flags.logRetention);
        args.push("--log-retention", flags.logRetention);
      }
      for (
        const [flag, value] of [
          ["--log-budget", flags.logBudget],
          ["--log-rate", flags.logRate],
          ["--warm-pool-memory", flags.warmPoolMemory],
        ]
      ) {
        if (value === undefined) continue;
        parseSize(this, flag!, value);
        args.push(flag!, value);
      }
      if (flags.maxWarm !== undefined) {
        parseMaxWarm(this, flags.maxWarm);
        args.push("--max-warm", flags.maxWarm);
      }
      if (flags.warmPool !== undefined) {
        parseWarmPool(this, flags.warmPool);
        args.push("--warm-pool", flags.warmPool);
      }
      parseQuotas(this, flags.quota);
      for (const quota of flags.quota ?? []) args.push("--quota", quota);
      if (flags.frontProxy === false) args.push("--no-front-proxy");
      if (flags.cgroups === false) args.push("--no-cgroups");
      if (flags.allowPrivateNet) args.push("--allow-private-net");
      const token = globalOptions(this).token;
      if (token) Deno.env.set(HOST_TOKEN_ENV, token); // inherited by the child only
      // A port asked for stays; the default moves when another program holds it.
      const { info, portTaken } = this.getOptionValueSource("port") === "default"
        ? await startBackgroundHostOnAnyPort({ dataDir, args })
        : { info: await startBackgroundHost({ dataDir, port, args }), portTaken: undefined };
      const taken = portTaken ? ` (port ${portTaken} is in use by another program)` : "";
      out.result(
        statusDocument(info, dataDir, true),
        () =>
          `Started the local host at ${info.apiUrl}${taken} (v2: ${info.apiV2Url}; ` +
          `pid ${info.pid}, logs: ${hostLogPath(dataDir)})`,
      );
    });

  host.command("ca")
    .description("Print the path of the host's CA certificate (created if needed), to trust it")
    .option("--data-dir <dir>", "the data directory of the host")
    .addHelpText(
      "after",
      `
The host issues certificates for verified custom domains (\`domain certs provision\`) and for
names under its base domain from this CA. Trust it to reach the HTTPS port without warnings:

  $ curl --cacert "$(deploy-tenant host ca)" --resolve shop.test:8443:127.0.0.1 \\
      https://shop.test:8443/
  $ DENO_CERT="$(deploy-tenant host ca)" deno run -A client.ts
  $ NODE_EXTRA_CA_CERTS="$(deploy-tenant host ca)" node client.js
  $ sudo cp "$(deploy-tenant host ca)" /usr/local/share/ca-certificates/deploy-tenant.crt \\
      && sudo update-ca-certificates       # Debian/Ubuntu, system-wide

Trusting it means trusting whatever it signs: its key stays in <data-dir>/ca/, readable by
you only.`,
    )
    .action(async function (this: Command, flags: Pick<HostFlags, "dataDir">) {
      const out = outputFor(this);
      const dataDir = flags.dataDir ?? hostDataDir();
      await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
      const { caDir, CertificateError, LocalCa } = await import("../host/edge/certs.ts");
      const ca = await LocalCa.open(caDir(dataDir)).catch((error) => {
        if (!(error instanceof CertificateError)) throw error;
        throw new DeployTenantError("caUnavailable", error.message, { exitCode: ExitCode.failed });
      });
      const certificate = new X509Certificate(await ca.certificate());
      out.result({
        path: ca.certificatePath,
        subject: certificate.subject,
        fingerprint256: certificate.fingerprint256,
        validTo: new Date(certificate.validTo).toISOString(),
      }, () => ca.certificatePath);
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

/** `1.2.3.4`, `1.2.3.4:5353`, `::1` or `[::1]:5353`. */
function parseResolver(command: Command, value: string): { ipAddr: string; port: number } {
  const match = value.match(/^\[([0-9a-f:.]+)\](?::(\d+))?$/i) ??
    value.match(/^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d+))?$/) ??
    value.match(/^([0-9a-f:]*:[0-9a-f:.]*)()$/i);
  const port = Number(match?.[2] || 53);
  if (!match || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw usageError(
      command,
      `Invalid --dns-resolver "${value}"`,
      "Give an IP address with an optional port: 1.1.1.1, 127.0.0.1:5353 or [::1]:53.",
    );
  }
  return { ipAddr: match[1], port };
}

/** `--max-warm` as a count (`undefined`: the default). */
function parseMaxWarm(command: Command, value: string | undefined): number | undefined {
  return parseCount(command, "--max-warm", value, 1, 10_000);
}

/** `--warm-pool` as a count (`undefined`: the default). */
function parseWarmPool(command: Command, value: string | undefined): number | undefined {
  return parseCount(command, "--warm-pool", value, 0, 64);
}

/** A count flag within `min`-`max` (`undefined`: the default). */
function parseCount(
  command: Command,
  flag: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const count = Number(value);
  if (!Number.isInteger(count) || count < min || count > max) {
    throw usageError(command, `Invalid ${flag} "${value}": expected ${min}-${max}`);
  }
  return count;
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
    ["api v2", info.apiV2Url],
    ["pid", String(info.pid)],
    ["data dir", dataDir],
    ["healthy", healthy ? out.green("yes") : out.red("no")],
    ["base domain", info.baseDomain],
    ["https port", info.httpsPort === undefined ? undefined : String(info.httpsPort)],
    ["isolation", info.isolation],
    [
      "front proxy",
      info.frontProxy === "none"
        ? "none: the host's own router carries requests (slower; one tenant's bursts of " +
          "connections delay others by tens of ms; install haproxy)"
        : info.frontProxy,
    ],
    ["limits", info.cgroups],
    ["capacity", describeCapacity(info)],
    ["logs", hostLogPath(dataDir)],
  ]);
}

/** The warm tenants the machine's limits allow, against `--max-warm`. */
function describeCapacity(info: HostInfo): string | undefined {
  const capacity = info.limits?.capacity;
  if (!capacity) return undefined;
  const room = capacity.tenants === null
    ? "unknown (no limit could be read)"
    : `about ${capacity.tenants} warm tenants (bound by ${capacity.boundBy})`;
  return `${room}; --max-warm ${info.limits?.maxWarm ?? "?"}`;
}

/** `--log-budget` or `--log-rate` as bytes: `512k`, `64m`, `1g` or a plain count. */
function parseSize(
  command: Command,
  flag: string,
  text: string | undefined,
): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)([kmg]?)i?b?$/i.exec(text.trim());
  const bytes = match
    ? Number(match[1]) * 1024 ** "_kmg".indexOf(match[2].toLowerCase() || "_")
    : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1024) {
    throw usageError(
      command,
      `Invalid ${flag} "${text}": expected a size of at least 1k, like 64m`,
    );
  }
  return bytes;
}

/**
 * `--quota` names and the host's quota keys, checked against {@link Quotas}: a type import, so
 * parsing the flags does not load host/.
 */
const QUOTAS = {
  projects: "projects",
  deployments: "deployments",
  databases: "databases",
  domains: "domains",
  layers: "layers",
  storage: "storedBytes",
  "database-size": "databaseBytes",
  dependencies: "dependencyBytes",
} as const satisfies Record<string, keyof Quotas>;

/** The quotas that are sizes (and take k, m, g). */
const SIZED_QUOTAS = new Set<string>(["storedBytes", "databaseBytes", "dependencyBytes"]);

/** `--quota projects=5000 --quota storage=20g` as quotas (sizes take k, m, g). */
function parseQuotas(
  command: Command,
  texts: string[] | undefined,
): Partial<Quotas> | undefined {
  if (!texts?.length) return undefined;
  const quotas: Partial<Quotas> = {};
  for (const text of texts) {
    const [name, value = ""] = text.split("=", 2);
    const key = Object.hasOwn(QUOTAS, name) ? QUOTAS[name as keyof typeof QUOTAS] : undefined;
    const match = /^(\d+)([kmg]?)i?b?$/i.exec(value.trim());
    const amount = match
      ? Number(match[1]) * 1024 ** "_kmg".indexOf(match[2].toLowerCase() || "_")
      : NaN;
    if (!key || !Number.isSafeInteger(amount) || (!SIZED_QUOTAS.has(key) && match?.[2])) {
      throw usageError(
        command,
        `Invalid --quota "${text}": expected ${Object.keys(QUOTAS).join(", ")}=<n> ` +
          "(storage, database-size and dependencies take a size like 20g)",
      );
    }
    quotas[key] = amount;
  }
  return quotas;
}

/** `--log-retention` as milliseconds (`undefined`: the default). */
function parseRetention(command: Command, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    throw usageError(command, `Invalid --log-retention "${text}": expected a duration like 3d`);
  }
  return ms;
}

/** The host settings `host run` and `host start` share (start passes them on to run). */
function addHostSettings(command: Command): Command {
  return command
    .option("--unsandboxed", "run tenants without an OS sandbox when none is available")
    .option("--https-port <port>", "also serve HTTPS here (0: a free port), certificates by SNI")
    .option(
      "--trust-domain <suffix>",
      "verify custom domains under this suffix without DNS (development), e.g. test; repeatable",
      collect,
    )
    .option("--dns-resolver <ip[:port]>", "DNS server that verifies custom domains")
    .option("--log-retention <duration>", "how long app logs are kept, e.g. 3d (default 14d)")
    .option("--log-budget <size>", "app log bytes kept per deployment, e.g. 16m (default 64m)")
    .option(
      "--log-rate <size>",
      "app log bytes a deployment may write per second, e.g. 256k (default 1m); more are dropped",
    )
    .option("--max-warm <n>", "deployment processes kept running at once (default 256)")
    .option(
      "--quota <name=n>",
      "per-organization quota: projects (10000), deployments (100000), databases (1000), " +
        "domains (1000), layers (1000), storage (50g), database-size (1g, each KV database), " +
        "dependencies (1g, what each build may download); repeatable",
      collect,
    )
    .option(
      "--warm-pool <n>",
      "the fewest sandboxed runtimes kept started ahead of cold starts (default 1; 0: none, " +
        "and a restart starts nothing again); the pool grows to recent bursts of cold starts " +
        "within --warm-pool-memory",
    )
    .option(
      "--warm-pool-memory <size>",
      "memory the warm pool, and the deployments a restart starts again, may hold, e.g. 512m " +
        "(default 5% of the machine's, at least 512m or an eighth of it, at most 1g)",
    )
    .option(
      "--no-front-proxy",
      "route requests through the host itself even if HAProxy is installed",
    )
    .option(
      "--no-cgroups",
      "no cgroup per tenant even where the machine allows it: memory is then sampled from /proc",
    )
    .option(
      "--allow-private-net",
      "let a deployment's permissions.net (--allow-net) name loopback and private addresses; " +
        "by default they stay denied whatever it lists",
    );
}
