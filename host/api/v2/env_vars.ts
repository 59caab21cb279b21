/**
 * v2's environment variables of apps and layers: inputs checked once where they enter,
 * PATCH's deep merge (matched by `id`, else by key and contexts; `delete: true` removes),
 * and the answer's shape (a secret's value is never sent back).
 *
 * @module
 */
import { z } from "zod";
import type { EnvVarRecord } from "../../store/app_settings.ts";
import { checkEnvVars, MAX_ENV_BYTES, MAX_ENV_VALUE_LENGTH, MAX_ENV_VARS } from "../validate.ts";
import { invalid } from "./common.ts";

export { MAX_ENV_BYTES, MAX_ENV_VALUE_LENGTH, MAX_ENV_VARS };

const contexts = z.union([z.literal("all"), z.array(z.string().min(1).max(64)).max(16)]);

/** v2 `EnvVarInput`. */
export const envVarInput = z.strictObject({
  key: z.string().min(1).max(128),
  value: z.string().max(MAX_ENV_VALUE_LENGTH),
  secret: z.boolean().optional(),
  contexts: contexts.optional(),
});

/** v2 `EnvVarUpdate` (PATCH). */
export const envVarUpdate = z.strictObject({
  id: z.string().optional(),
  key: z.string().min(1).max(128).optional(),
  value: z.string().max(MAX_ENV_VALUE_LENGTH).optional(),
  secret: z.boolean().optional(),
  contexts: contexts.optional(),
  delete: z.boolean().optional(),
});

/** New variables from `EnvVarInput`s; a key given twice for the same contexts is an error. */
export function newEnvVars(inputs: z.infer<typeof envVarInput>[]): EnvVarRecord[] {
  return mergeEnvVars([], inputs);
}

/**
 * Applies `updates` to `current`: an update names its variable by `id`, else by `key` and
 * `contexts` (by `key` alone when it gives no contexts); it changes the fields it gives,
 * removes the variable with `delete: true`, or creates one when nothing matches.
 */
export function mergeEnvVars(
  current: readonly EnvVarRecord[],
  updates: z.infer<typeof envVarUpdate>[],
): EnvVarRecord[] {
  const vars = current.map((v) => ({ ...v }));
  for (const update of updates) {
    const index = vars.findIndex((v) =>
      update.id !== undefined ? v.id === update.id : v.key === update.key &&
        (update.contexts === undefined || sameContexts(v.contexts, update.contexts))
    );
    if (update.delete) {
      if (index < 0) throw invalid(`No variable ${update.id ?? update.key} to delete`);
      vars.splice(index, 1);
      continue;
    }
    if (index >= 0) {
      const v = vars[index];
      vars[index] = {
        ...v,
        key: update.key ?? v.key,
        value: update.value ?? v.value,
        secret: update.secret ?? v.secret,
        contexts: update.contexts ?? v.contexts,
      };
      continue;
    }
    if (update.id !== undefined) throw invalid(`No variable with id ${update.id}`);
    if (update.key === undefined || update.value === undefined) {
      throw invalid("A new variable needs a key and a value");
    }
    vars.push({
      id: `env_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`,
      key: update.key,
      value: update.value,
      secret: update.secret ?? false,
      contexts: update.contexts ?? "all",
    });
  }
  checkEnvVars(Object.fromEntries(vars.map((v) => [v.key, v.value])));
  if (vars.length > MAX_ENV_VARS) {
    throw invalid(`At most ${MAX_ENV_VARS} variables per app or layer, not ${vars.length}`);
  }
  const bytes = vars.reduce((sum, v) => sum + v.key.length + v.value.length, 0);
  if (bytes > MAX_ENV_BYTES) {
    throw invalid(
      `The variables take ${bytes} bytes; at most ${MAX_ENV_BYTES} per app or layer ` +
        "(every process gets them all in its environment)",
    );
  }
  return vars;
}

/** A variable as v2 answers it: no value when secret. */
export function envVarJson(v: EnvVarRecord): Record<string, unknown> {
  const { id, key, value, secret, contexts } = v;
  return secret ? { id, key, secret, contexts } : { id, key, value, secret, contexts };
}

function sameContexts(a: "all" | string[], b: "all" | string[]): boolean {
  if (a === "all" || b === "all") return a === b;
  const set = new Set(a.map((c) => c.toLowerCase()));
  return set.size === b.length && b.every((c) => set.has(c.toLowerCase()));
}
