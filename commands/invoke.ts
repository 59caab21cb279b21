/**
 * `invoke <deployment-id|url> [path]`: call a deployment, like curl.
 *
 * @module
 */
import { Command } from "commander";
import { DeployTenantError, ExitCode } from "../lib/errors.ts";
import { resolveDeployment } from "../lib/deployment_target.ts";
import { bodyReadError, invoke, notServedError } from "../lib/invoke.ts";
import { deploymentUrl } from "../lib/urls.ts";
import { terminalSafe } from "../lib/output.ts";
import { collect, connect, outputFor, usageError } from "./context.ts";

interface InvokeFlags {
  request?: string;
  data?: string;
  header?: string[];
  include?: boolean;
  fail?: boolean;
  timeout: string;
}

/** The `invoke` command. */
export function invokeCommand(): Command {
  return new Command("invoke")
    .description("Call a deployment over HTTP and print the response body")
    .argument("<target>", "a deployment id, a project (its production deployment), or a URL")
    .argument(
      "[path]",
      "path (and query) to request, e.g. /lead?dry=1 (default: the URL's own, or /)",
    )
    .option("-X, --request <method>", "HTTP method (default GET, or POST with --data)")
    .option("-d, --data <data>", "request body; @file reads a file, @- reads stdin")
    .option("-H, --header <name:value>", "a request header; repeatable", collect)
    .option("-i, --include", "print the status line and headers (on stderr)")
    .option("--fail", "exit with code 1 on any 4xx or 5xx status, not just 5xx")
    .option("--timeout <seconds>", "time limit for the whole exchange", "30")
    .addHelpText(
      "after",
      `
The body goes to stdout as is (on a terminal, its control characters are shown escaped:
pipe it for the bytes). The status line goes to stderr on a terminal or with -i
(with the headers). Under --json stdout gets {status, headers, body} instead (body parsed
when it is JSON). A body given with --data that parses as JSON is sent with
Content-Type: application/json unless -H sets one.

Exit codes: 0 for a 1xx-4xx answer (a hook may answer 400 on purpose), 1 for a 5xx
answer (or any 4xx/5xx with --fail), 4 when no deployment serves the URL (the local
host's router answered 404 itself), 6 when the deployment cannot be reached.

Examples:
  $ deploy-tenant invoke abcde12vwxyz /lead -d '{"name":"Ada","email":"ada@example.com"}'
  $ deploy-tenant invoke http://acme-crm-abcde12vwxyz.localhost:8000/lead -d @lead.json -i
  $ deploy-tenant invoke abcde12vwxyz /lead -d @lead.json -H 'x-event: lead.created'`,
    )
    .action(async function (
      this: Command,
      target: string,
      path: string | undefined,
      flags: InvokeFlags,
    ) {
      const out = outputFor(this);
      // `invoke /lead <id>`, as curl habits type it: not a lookup of deployment "/lead".
      if (target.startsWith("/")) {
        const deployment = this.args.length > 1 ? path : "<deployment>";
        throw usageError(
          this,
          `"${target}" is a path, not a deployment: the deployment comes first`,
          `\`deploy-tenant invoke ${deployment} ${target}\`.`,
        );
      }
      const timeoutSeconds = Number(flags.timeout);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) {
        throw usageError(this, `Invalid --timeout "${flags.timeout}": expected seconds`);
      }
      const headers = new Headers();
      for (const header of flags.header ?? []) {
        const colon = header.indexOf(":");
        if (colon <= 0) {
          throw usageError(this, `Invalid header "${header}"`, 'Use -H "name: value".');
        }
        headers.append(header.slice(0, colon).trim(), header.slice(colon + 1).trim());
      }
      const body = flags.data === undefined ? undefined : await readData(this, flags.data);
      if (body !== undefined && !headers.has("content-type") && isJson(body)) {
        headers.set("content-type", "application/json");
      }
      const method = (flags.request ?? (body === undefined ? "GET" : "POST")).toUpperCase();
      // fetch refuses to send one (curl does not): say so, not "could not reach" the host.
      if (body !== undefined && (method === "GET" || method === "HEAD")) {
        throw usageError(
          this,
          `A ${method} request cannot have a body (--data)`,
          "Send it with -X POST (or leave out -X), or put the values in the path's query.",
        );
      }
      const base = /^https?:\/\//i.test(target) ? target : await urlOfDeployment(this, target);

      // A URL target keeps its own path and query (curl's way) unless a path is given.
      const url = path === undefined ? new URL(base) : new URL(path, base);
      const response = await invoke(url, { method, headers, body }, {
        timeoutMs: timeoutSeconds * 1000,
      });
      const notServed = notServedError(url, response);
      if (notServed) {
        await response.body?.cancel();
        throw notServed;
      }
      const failed = response.status >= 500 || (flags.fail === true && response.status >= 400);

      let received = 0;
      const cut = (error: unknown) => {
        const cause = bodyReadError(url, error, received);
        // By id, the logs are one command away.
        if (cause.code === "invokeCut" && !/^https?:\/\//i.test(target)) {
          cause.hint = `The deployment closed the connection mid-answer (it may have crashed): ` +
            `see \`deploy-tenant logs ${target}\`.`;
        }
        return cause;
      };
      if (out.json) {
        const text = await response.text().catch((error) => {
          throw cut(error);
        });
        out.result({
          status: response.status,
          headers: Object.fromEntries(response.headers),
          body: parseJsonOr(text),
        }, () => "");
      } else {
        if (flags.include || out.stdoutIsTerminal) {
          const statusLine = `HTTP ${response.status} ${response.statusText}`.trim();
          const headerLines = flags.include
            ? [...response.headers].map(([name, value]) => `${name}: ${value}`)
            : [];
          await writeAll(Deno.stderr, terminalSafe([statusLine, ...headerLines, ""].join("\n")));
        }
        if (response.body) {
          // On a terminal the body is for a person, and the deployment's to write: its control
          // characters are shown escaped so that it cannot drive the terminal (as curl will not
          // print binary there). Piped, it is the deployment's bytes.
          const shown = out.stdoutIsTerminal ? new TextDecoder() : undefined;
          const show = (text: string) => new TextEncoder().encode(terminalSafe(text));
          // Leaving the loop cancels the body: once `| head` has gone, nothing more is read.
          try {
            for await (const chunk of response.body) {
              if (!out.write(shown ? show(shown.decode(chunk, { stream: true })) : chunk)) break;
              received += chunk.length;
            }
            if (shown) out.write(show(shown.decode()));
          } catch (error) {
            throw cut(error);
          }
        }
      }
      if (failed) {
        throw new DeployTenantError(
          "invokeFailed",
          `${url.href} answered ${response.status} ${response.statusText}`.trim(),
          { hint: "Check the deployment's code and its logs.", exitCode: ExitCode.failed },
        );
      }
    });
}

/** The URL of the deployment `id` names (a project: its production one); it must serve. */
async function urlOfDeployment(command: Command, id: string): Promise<string> {
  const { api, config } = await connect(command);
  const deployment = await resolveDeployment(api, id);
  const domain = deployment.domains?.[0];
  if (deployment.status !== "success" || !domain) {
    throw new DeployTenantError(
      "deploymentNotReady",
      deployment.status === "success"
        ? `Deployment ${id} has no domain to call`
        : `Deployment ${id} is not serving: its build is ${deployment.status}`,
      {
        hint: deployment.status === "failed"
          ? `See why with \`deploy-tenant logs ${id} --build\`.`
          : "Wait for the build to finish, or call it by URL.",
        exitCode: ExitCode.failed,
      },
    );
  }
  return deploymentUrl(domain, config.apiUrl);
}

async function readData(
  command: Command,
  data: string,
): Promise<string | Uint8Array<ArrayBuffer>> {
  if (!data.startsWith("@")) return data;
  const path = data.slice(1);
  if (path === "-") return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw usageError(command, `Cannot read ${path}: no such file`, "Pass -d @<existing file>.");
  }
}

function isJson(body: string | Uint8Array): boolean {
  try {
    JSON.parse(typeof body === "string" ? body : new TextDecoder().decode(body));
    return true;
  } catch {
    return false;
  }
}

function parseJsonOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function writeAll(
  file: { write(p: Uint8Array): Promise<number> },
  data: string | Uint8Array,
) {
  let bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  while (bytes.length > 0) bytes = bytes.subarray(await file.write(bytes));
}
