/**
 * A settings change aimed at production: merged onto what production is now, never onto a
 * deployment production has moved away from, so two changes made at once both land.
 *
 * The model is compare-and-set on production's holder: find the deployment serving
 * `{project.name}.<base-domain>`, redeploy it with the change, wait for the build, then move
 * the name only if that deployment still holds it (`ifHolder`). When someone moved production
 * meanwhile (another change landed first), redo the change onto the new holder, a few times.
 *
 * @example
 * ```ts
 * const result = await redeployToProduction(api, "abcde12vwxyz", { envVars: { A: "1" } });
 * if (result.deployment.status === "success") console.log(`production: ${result.domain}`);
 * ```
 *
 * @module
 */
import type { DeployApi } from "./api.ts";
import { type DeployEvent, waitForBuild, type WaitOptions } from "./deploy.ts";
import { domainHolder, productionDomain } from "./domains.ts";
import { ApiError, DeployTenantError, ExitCode } from "./errors.ts";
import type { BuildLogEntry, Deployment, Project, RedeployRequest } from "./types.ts";

/** Progress of {@link redeployToProduction}, besides the build's own ({@link DeployEvent}). */
export type RedeployEvent =
  | DeployEvent
  /** Production is served by another deployment than the one named: the change goes there. */
  | { type: "productionElsewhere"; named: string; production: string }
  /** Production moved while the new deployment built: the change is redone onto `production`. */
  | { type: "productionChanged"; production: string; attempt: number };

/** Options of {@link redeployToProduction}. */
export interface RedeployToProductionOptions extends Omit<WaitOptions, "onProgress"> {
  /** How many times the change is made before giving up on a production that keeps moving. */
  attempts?: number;
  /** Reports progress. */
  onProgress?: (event: RedeployEvent) => void;
}

/** What {@link redeployToProduction} did. */
export interface RedeployToProductionResult {
  /** The project. */
  project: Project;
  /** The deployment the change was merged onto (production's holder, or the one named). */
  source: Deployment;
  /** The new deployment; unless its build failed, it now serves production. */
  deployment: Deployment;
  /** The production host name, `{project.name}.<base-domain>`. */
  domain: string;
  /** The build log lines seen while waiting. */
  buildLogs: BuildLogEntry[];
  /** The build's error message when the build failed (production did not move). */
  buildError?: string;
}

/** The default of {@link RedeployToProductionOptions.attempts}. */
export const DEFAULT_PRODUCTION_ATTEMPTS = 5;

/**
 * Redeploys production with `request` merged in and moves production to the result: the
 * change is merged onto the deployment serving `{project.name}.<base-domain>` now (or onto
 * `deploymentId` when production has none), and the name moves only from that deployment.
 * If production moved meanwhile, the change is made again onto the new holder, up to
 * `attempts` times, so concurrent changes all end in production.
 *
 * @throws {DeployTenantError} `productionKeptChanging` (exit 5) when production moved every
 *   time; `baseDomainUnknown`; API errors and those of {@link waitForBuild}.
 */
export async function redeployToProduction(
  api: Pick<DeployApi, "projects" | "deployments" | "domains">,
  deploymentId: string,
  request: RedeployRequest,
  options: RedeployToProductionOptions = {},
): Promise<RedeployToProductionResult> {
  const named = await api.deployments.get(deploymentId);
  const project = await api.projects.get(named.projectId);
  const domain = productionDomain(project, named);
  let holder = await domainHolder(api, project.id, domain);
  if (holder && holder.id !== named.id) {
    options.onProgress?.({ type: "productionElsewhere", named: named.id, production: holder.id });
  }
  const attempts = options.attempts ?? DEFAULT_PRODUCTION_ATTEMPTS;
  for (let attempt = 1;; attempt++) {
    const source = holder ?? named;
    const created = await api.deployments.redeploy(source.id, request);
    options.onProgress?.({ type: "created", deployment: created });
    const built = await waitForBuild(api, created.id, options);
    if (built.deployment.status !== "success") return { project, source, domain, ...built };
    try {
      await api.domains.attach(created.id, domain, { ifHolder: holder?.id ?? "none" });
      const deployment = await api.deployments.get(created.id);
      return { project, source, domain, ...built, deployment };
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "domainHolderChanged")) throw error;
      holder = await domainHolder(api, project.id, domain);
      if (attempt >= attempts) {
        throw new DeployTenantError(
          "productionKeptChanging",
          `Production (${domain}) changed ${attempts} times while this change was being ` +
            `made; it is served by ${holder ? `deployment ${holder.id}` : "no deployment"}. ` +
            `Deployment ${created.id} has the change merged onto ${source.id} but does not ` +
            "serve production.",
          {
            hint: "Check what production serves (`deploy-tenant env list " +
              `${holder?.id ?? created.id}\`), then make the change again.`,
            exitCode: ExitCode.conflict,
          },
        );
      }
      options.onProgress?.({
        type: "productionChanged",
        production: (holder ?? named).id,
        attempt: attempt + 1,
      });
    }
  }
}
