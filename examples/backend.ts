/**
 * The platform's side, with the library: what a CRM backend does when a customer saves their
 * hook, and when a lead comes in. Runs against the API in DEPLOY_API_URL / DEPLOY_ACCESS_TOKEN /
 * DEPLOY_ORG_ID, or the local host's host.json:
 *
 * ```sh
 * deno task cli host start
 * deno run -A examples/backend.ts
 * ```
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { ApiError, deploy, deploymentUrl, invoke, V1Api } from "../lib/mod.ts";
import { readHostInfo } from "../lib/local_host.ts";
import { defaultDataDir } from "../lib/paths.ts";

const local = await readHostInfo(Deno.env.get("DEPLOY_TENANT_DATA_DIR") ?? defaultDataDir());
const apiUrl = Deno.env.get("DEPLOY_API_URL") ?? local?.apiUrl;
if (!apiUrl) {
  throw new Error("Start the local host (deno task cli host start) or set DEPLOY_API_URL");
}
const api = new V1Api({
  baseUrl: apiUrl,
  token: Deno.env.get("DEPLOY_ACCESS_TOKEN") ?? local?.token,
  organizationId: Deno.env.get("DEPLOY_ORG_ID") ?? local?.organizationId ?? "",
});

// A customer saved their hook: one project per customer, a new deployment per save.
const customer = "acme-leads";
await api.projects.create({ name: customer }).catch((error) => {
  if (!(error instanceof ApiError && error.status === 409)) throw error; // it exists already
});
const { deployment, buildError } = await deploy({
  api,
  project: customer,
  root: fileURLToPath(new URL("./hooks", import.meta.url)),
  envVars: { MIN_SCORE: "60" },
});
if (buildError) throw new Error(`The customer's hook does not build: ${buildError}`);
const url = deploymentUrl(deployment.domains![0], apiUrl);

// A lead came in: call the customer's code, with a deadline.
const response = await invoke(new URL("/lead", url), {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ name: "Ada", email: "ada@analytical.example", employees: 250 }),
}, { timeoutMs: 5_000 });
console.log(response.status, await response.json());
