/**
 * Redeploy rules: the settings of a new deployment made from an existing one and a
 * `RedeployRequest` (notes A5). Maps merge into the original's, where a `null` value deletes
 * the key; `description`, `requestTimeout` and `permissions.net` replace when given; anything
 * omitted (or `null`) stays as it was.
 *
 * @module
 */
import type { DeploymentPermissions } from "../../../lib/types.ts";
import {
  checkDatabases,
  checkEnvVars,
  checkEnvVarSizes,
  type RedeployBody,
  RequestError,
} from "../validate.ts";

/** The settings a redeploy may change. */
export interface RedeploySettings {
  envVars: Record<string, string>;
  databases: Record<string, string>;
  description: string;
  requestTimeout: number | null;
  permissions: DeploymentPermissions | null;
}

/**
 * The new deployment's settings: `source`'s, changed by `body`. `env_vars` (deprecated) is
 * applied before `envVars`, so `envVars` wins where both name a key. New env vars are
 * checked as at creation (names, reserved prefixes); only the `default` database exists.
 *
 * @throws {RequestError} 400 `invalidEnvVar` or `invalidRequest`.
 */
export function mergeRedeploy(source: RedeploySettings, body: RedeployBody): RedeploySettings {
  const envChanges = { ...body.env_vars, ...body.envVars };
  checkEnvVars(definedEntries(envChanges));
  const databaseChanges = body.databases ?? {};
  for (const name of Object.keys(databaseChanges)) {
    if (name !== "default") {
      throw new RequestError(
        400,
        "invalidRequest",
        `databases: "${name}" is not supported; only the "default" database is`,
      );
    }
  }
  const databases = checkDatabases(merge(source.databases, databaseChanges));

  let permissions = source.permissions;
  if (body.permissions && body.permissions.net !== undefined) {
    permissions = { ...source.permissions, net: body.permissions.net };
  }
  return {
    envVars: checkEnvVarSizes(merge(source.envVars, envChanges)),
    databases,
    description: body.description ?? source.description,
    requestTimeout: body.requestTimeout ?? source.requestTimeout,
    permissions,
  };
}

/** `base` with `changes` applied: a string sets a key, `null` deletes it. */
export function merge(
  base: Readonly<Record<string, string>>,
  changes: Readonly<Record<string, string | null>>,
): Record<string, string> {
  // A Map, not property writes: a key like "__proto__" must stay an ordinary key.
  const merged = new Map(Object.entries(base));
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) merged.delete(key);
    else merged.set(key, value);
  }
  return Object.fromEntries(merged);
}

function definedEntries(map: Record<string, string | null>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(map).filter((entry): entry is [string, string] => entry[1] !== null),
  );
}
