/**
 * `domain add|list|show|verify|certs upload|certs provision|attach|detach|remove`: custom
 * domains, from registration to serving a deployment.
 *
 * @module
 */
import { Command } from "commander";
import type { DomainsApi } from "../lib/api.ts";
import { ApiError } from "../lib/errors.ts";
import type { Output } from "../lib/output.ts";
import type { Domain } from "../lib/types.ts";
import { deploymentUrl } from "../lib/urls.ts";
import { wireObject } from "../lib/v2_api.ts";
import { unattachableDomain } from "./domain_hint.ts";
import {
  commandPath,
  confirmedOrAskable,
  confirmOrCancel,
  connect,
  usageError,
} from "./context.ts";

/** The `domain` command group. */
export function domainCommand(): Command {
  const domain = new Command("domain")
    .alias("domains")
    .description("Custom domains: register, verify, get TLS certificates, attach to deployments")
    .addHelpText(
      "after",
      `
A custom domain goes: add (prints the DNS records to create) → verify (checks them) →
certs provision or certs upload (TLS) → attach to a deployment. A wildcard such as
*.example.com covers one level of names under it (shop.example.com, not a.b.example.com).

On the local host: the A/AAAA records point at the address the host listens on
(127.0.0.1 and ::1 by default), the CNAME at <token>._acme.<base-domain>, and
\`host --trust-domain test\` verifies names under test without DNS (for development).
Unlike Deno Deploy, the local host does not need a certificate before attaching: a name
is served over HTTP on the host's port as soon as it is attached, and over HTTPS
(\`host --https-port\`) once it has one. It provisions certificates from its own CA
(\`host ca\` prints the file to trust).

Examples:
  $ deploy-tenant domain add shop.example.com
  $ deploy-tenant domain verify shop.example.com
  $ deploy-tenant domain certs provision shop.example.com
  $ deploy-tenant domain attach abcde12vwxyz shop.example.com
  $ deploy-tenant domain attach abcde12vwxyz "{project.name}.example.com"
  $ deploy-tenant domain certs upload shop.example.com --cert fullchain.pem --key key.pem
  $ deploy-tenant domain show shop.example.com
  $ deploy-tenant domain detach abcde12vwxyz shop.example.com
  $ deploy-tenant domain remove shop.example.com --yes
  $ deploy-tenant domain list --json`,
    );

  domain.command("add")
    .description("Register a domain and print the DNS records to create")
    .argument("<domain>", "e.g. shop.example.com or *.example.com")
    .action(async function (this: Command, name: string) {
      const { api, out } = await connect(this);
      const created = await api.domains.create(name);
      out.result(wireObject(created), () =>
        [
          `Added ${out.bold(created.domain)} (${created.id}).`,
          "",
          "Create these DNS records at your DNS provider:",
          "",
          recordsTable(out, created),
          "",
          `Then run \`deploy-tenant domain verify ${created.domain}\`.`,
        ].join("\n"));
    });

  domain.command("list")
    .alias("ls")
    .description("List the organization's domains")
    .action(async function (this: Command) {
      const { api, out } = await connect(this);
      const list = await Array.fromAsync(api.domains.list());
      out.result(list.map(wireObject), () =>
        out.table(list, [
          { header: "DOMAIN", value: (d) => d.domain },
          { header: "VERIFIED", value: (d) => d.isValidated ? out.green("yes") : out.yellow("no") },
          { header: "TLS", value: (d) => describeTls(d) },
          { header: "DEPLOYMENT", value: (d) => d.deploymentId ?? "" },
          { header: "ID", value: (d) => d.id, fit: "drop" },
        ], "No domains yet: add one with `deploy-tenant domain add <domain>`."));
    });

  domain.command("show")
    .alias("view")
    .description("Show a domain, its certificates and its DNS records")
    .argument("<domain>", "name or id")
    .action(async function (this: Command, idOrName: string) {
      const { api, out } = await connect(this);
      const found = await api.domains.get(idOrName);
      out.result(wireObject(found), () => describeDomain(out, found));
    });

  domain.command("verify")
    .description("Check the domain's DNS records (exit code 1 while they are not right)")
    .argument("<domain>", "name or id")
    .action(async function (this: Command, idOrName: string) {
      const { api, out } = await connect(this);
      const found = await api.domains.get(idOrName);
      try {
        await api.domains.verify(found.id);
      } catch (error) {
        if (!(error instanceof ApiError && error.code === "domainNotVerified")) throw error;
        throw new ApiError(error.status, error.code, error.message, {
          hint: `Create these DNS records, wait for them to propagate and verify again:\n` +
            recordsTable(out, found),
          traceId: error.traceId,
        });
      }
      const verified = await api.domains.get(found.id);
      out.result(wireObject(verified), () => `Verified ${out.bold(verified.domain)}`);
    });

  const certs = domain.command("certs")
    .alias("cert")
    .description("TLS certificates of a domain: upload your own or have them provisioned");

  certs.command("upload")
    .description("Upload a PEM certificate chain (the domain's certificate first) and its key")
    .argument("<domain>", "name or id")
    .requiredOption("--cert <file>", "PEM certificate chain, the domain's certificate first")
    .requiredOption("--key <file>", "PEM private key (RSA 2048+ or EC), unencrypted")
    .action(async function (
      this: Command,
      idOrName: string,
      flags: { cert: string; key: string },
    ) {
      const certificateChain = await readFileFlag(this, "--cert", flags.cert);
      const privateKey = await readFileFlag(this, "--key", flags.key);
      const { api, out } = await connect(this);
      const found = await api.domains.get(idOrName);
      await api.domains.uploadCertificate(found.id, { certificateChain, privateKey });
      const updated = await api.domains.get(found.id);
      out.result(
        wireObject(updated),
        () => `Uploaded the certificate of ${out.bold(updated.domain)}`,
      );
    });

  certs.command("provision")
    .description("Have the platform issue certificates (the local host: from its own CA)")
    .argument("<domain>", "name or id")
    .addHelpText(
      "after",
      "\nThe local host issues them from its CA; trust it with the file `deploy-tenant host ca` " +
        "prints.",
    )
    .action(async function (this: Command, idOrName: string) {
      const { api, out } = await connect(this);
      const found = await api.domains.get(idOrName);
      await api.domains.provisionCertificates(found.id);
      const updated = await api.domains.get(found.id);
      out.result(
        wireObject(updated),
        () => `Provisioned certificates for ${out.bold(updated.domain)}`,
      );
    });

  domain.command("attach")
    .description("Serve a deployment at a host name (moved from the deployment that had it)")
    .argument("<deployment>", "deployment id")
    .argument("<domain>", "host name; {project.name} and {deployment.id} are filled in")
    .action(async function (this: Command, deploymentId: string, name: string) {
      checkOrder(this, deploymentId, name);
      const { api, config, out } = await connect(this);
      const attached = await api.domains.attach(deploymentId, name).catch((error) => {
        throw unattachableDomain(error, deploymentId, false);
      });
      const url = deploymentUrl(attached, config.apiUrl);
      const note = await tlsNote(api.domains, attached);
      out.result({ deploymentId, domain: attached, url }, () => {
        const lines = [`Attached ${out.bold(attached)} to deployment ${deploymentId}`, url];
        if (note) lines.push(out.dim(note));
        return lines.join("\n");
      });
    });

  domain.command("detach")
    .description("Stop serving a deployment at a host name")
    .argument("<deployment>", "deployment id")
    .argument("<domain>", "host name; {project.name} and {deployment.id} are filled in")
    .action(async function (this: Command, deploymentId: string, name: string) {
      checkOrder(this, deploymentId, name);
      const { api, out } = await connect(this);
      await api.domains.detach(deploymentId, name);
      out.result(
        { deploymentId, domain: name, detached: true },
        () => `Detached ${name} from deployment ${deploymentId}`,
      );
    });

  domain.command("remove")
    .aliases(["rm", "delete"])
    .description("Remove a domain; deployments stop answering at the names it covered")
    .argument("<domain>", "name or id")
    .option("--yes", "do not ask for confirmation")
    .action(async function (this: Command, idOrName: string, options: { yes?: boolean }) {
      const confirmed = confirmedOrAskable(
        this,
        options.yes,
        `Refusing to remove domain "${idOrName}" without confirmation`,
      );
      const { api, out } = await connect(this);
      const found = await api.domains.get(idOrName);
      if (!confirmed) {
        await confirmOrCancel(
          `Remove ${found.domain} and detach it from deployments?`,
          "Cancelled: nothing was removed",
        );
      }
      await api.domains.delete(found.id);
      out.result(
        { ...wireObject(found), deleted: true },
        () => `Removed ${found.domain} (${found.id})`,
      );
    });

  return domain;
}

/**
 * The DNS records as a table to copy into a DNS provider; on v2, where the records come as
 * alternative sets, one table per set, each to be published whole.
 */
export function recordsTable(out: Output, domain: Domain): string {
  const table = (records: Domain["dnsRecords"]) =>
    out.table(records, [
      { header: "TYPE", value: (record) => record.type },
      { header: "NAME", value: (record) => record.name },
      { header: "VALUE", value: (record) => record.content },
    ], "(no records)");
  const sets = domain.dnsRecordSets ?? [domain.dnsRecords];
  if (sets.length <= 1) return table(sets[0] ?? []);
  return sets.map((records, index) =>
    `Option ${index + 1} of ${sets.length} (publish all of its records):\n${table(records)}`
  ).join("\n\n");
}

function describeDomain(out: Output, domain: Domain): string {
  const certificates = domain.certificates.map((certificate) =>
    `${certificate.cipher} until ${out.time(certificate.expiresAt)}`
  ).join(", ");
  const fields = out.fields([
    ["domain", out.bold(domain.domain)],
    ["id", domain.id],
    ["verified", domain.isValidated ? out.green("yes") : out.yellow("no")],
    ["tls", describeTls(domain)],
    ["certificates", certificates],
    ["deployment", domain.deploymentId],
    ["project", domain.projectId],
    ["token", domain.token],
    ["created", out.time(domain.createdAt)],
  ]);
  return `${fields}\n\nDNS records:\n${recordsTable(out, domain)}`;
}

function describeTls(domain: Domain): string {
  const status = domain.provisioningStatus;
  if (status.code === "failed") return `failed: ${status.message}`;
  if (status.code === "success") return "provisioned";
  if (status.code === "manual") return "uploaded";
  return domain.certificates.length > 0 ? "yes" : "none";
}

/** A note when a registered domain has no certificate yet (it is served over HTTP only). */
async function tlsNote(domains: DomainsApi, name: string): Promise<string | undefined> {
  try {
    const registered = await domains.get(name);
    if (registered.certificates.length > 0) return undefined;
    return `${name} has no TLS certificate yet: it is served over HTTP only until you run ` +
      `\`deploy-tenant domain certs provision ${name}\` (or upload one).`;
  } catch {
    return undefined; // under a wildcard, or a name of the base domain
  }
}

/**
 * `domain attach shop.example.com <deployment>`: a host name where the deployment goes and a
 * word without a dot where the name goes is the arguments swapped (no deployment id has a
 * dot); the usage error names the command to type.
 */
function checkOrder(command: Command, deploymentId: string, name: string): void {
  if (!deploymentId.includes(".") || name.includes(".")) return;
  throw usageError(
    command,
    `"${deploymentId}" is a host name, not a deployment: the deployment comes first`,
    `\`${commandPath(command)} ${name} ${deploymentId}\`.`,
  );
}

async function readFileFlag(command: Command, flag: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw usageError(command, `Cannot read ${path} (${flag}): no such file`);
  }
}
