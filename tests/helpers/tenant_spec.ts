/**
 * A made-up deployment's {@link TenantSpec}, for tests of the command line that starts a tenant
 * (host paths that need not exist: nothing is started).
 *
 * @module
 */
import type { TenantSpec } from "../../host/tenant/sandbox.ts";

/** One tenant's spec under `/data/deployments/abcde12vwxyz`. */
export const TENANT_SPEC: TenantSpec = {
  deploymentId: "abcde12vwxyz",
  appDir: "/data/deployments/abcde12vwxyz/app",
  entrypoint: "main.ts",
  runDir: "/data/deployments/abcde12vwxyz/run",
  cacheDir: "/data/deployments/abcde12vwxyz/cache",
  bootstrap: "/opt/bootstrap.js",
  envVars: {},
  memoryMb: 512,
  denoFlags: [],
  deno: "/usr/bin/deno",
};
