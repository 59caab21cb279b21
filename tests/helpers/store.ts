/**
 * Rows written straight into a host's store, for tests that need them without the API or a
 * build (thousands of revisions, a deployment whose logs are written by hand).
 *
 * @module
 */
import { newDeploymentId } from "../../host/store/ids.ts";
import type { NewDeployment } from "../../host/store/store.ts";

/**
 * A deployment of `projectId` with a new id, entry point `main.ts` and nothing else: no
 * variables, settings or files. `overrides` replace any field.
 */
export function bareDeployment(
  projectId: string,
  overrides: Partial<NewDeployment> = {},
): NewDeployment {
  return {
    id: newDeploymentId(),
    projectId,
    description: "",
    entryPointUrl: "main.ts",
    envVars: {},
    databases: {},
    domains: null,
    importMapUrl: null,
    lockFileUrl: null,
    compilerOptions: null,
    requestTimeout: null,
    permissions: null,
    assets: [],
    ...overrides,
  };
}
