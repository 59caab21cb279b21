/**
 * What to type when a host name cannot be attached because the organization has not
 * registered or verified it. The API's message names its routes (`POST
 * /domains/<uuid>/verify`); people need the commands. Shared by `deploy --domain` and
 * `domain attach`.
 *
 * @module
 */
import { ApiError } from "../lib/errors.ts";

/**
 * `error` with a hint naming the commands that register and verify the name, when it is the
 * API's `domainNotRegistered` or `domainNotVerified`; any other error as it is. After a deploy
 * (`built`), the hint first says that the deployment exists and serves at its own URL.
 */
export function unattachableDomain(
  error: unknown,
  deploymentId: string | undefined,
  built: boolean,
): unknown {
  if (
    !(error instanceof ApiError) || deploymentId === undefined ||
    (error.code !== "domainNotRegistered" && error.code !== "domainNotVerified")
  ) {
    return error;
  }
  // "Domain <registered> is not …"; unverified: "… before attaching <name>" (a wildcard's).
  const registered = /^Domain (\S+) (?:is|could) not/.exec(error.message)?.[1] ?? "<domain>";
  const name = error.code === "domainNotVerified"
    ? /before attaching (\S+)$/.exec(error.message)?.[1] ?? registered
    : registered;
  const verify = `\`deploy-tenant domain verify ${registered}\``;
  const attach = `\`deploy-tenant domain attach ${deploymentId} ${name}\``;
  if (built) {
    const register = error.code === "domainNotRegistered"
      ? `register it with \`deploy-tenant domain add ${registered}\`, create the DNS records ` +
        "it prints, then "
      : "create its DNS records, then ";
    error.hint = `Deployment ${deploymentId} is built and serves at its own URL: ${register}run ` +
      `${verify} and ${attach}.`;
  } else {
    error.hint = error.code === "domainNotRegistered"
      ? `Register it with \`deploy-tenant domain add ${registered}\`, create the DNS records ` +
        `it prints, run ${verify}, then attach it again.`
      : `Create the DNS records \`deploy-tenant domain show ${registered}\` lists, run ` +
        `${verify}, then attach it again.`;
  }
  return error;
}
