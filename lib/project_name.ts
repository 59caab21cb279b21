/**
 * The project-name rule of the Subhosting API, shared by the local host (which enforces it) and
 * the CLI (which checks a name typed at a prompt before sending it).
 *
 * @module
 */

/** The project-name rule, as told to users. */
export const PROJECT_NAME_RULE = "A project name has 3 to 26 characters from a-z, 0-9 and -, " +
  "does not start or end with a hyphen, and no part after a hyphen is 8 or 12 characters long " +
  "(those would clash with {name}-{deploymentId} host names)";

/** What is wrong with a project name, or `undefined` when it is valid. */
export function projectNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 26) return "it must be 3 to 26 characters long";
  if (!/^[a-z0-9-]+$/.test(name)) return "it may only contain a-z, 0-9 and -";
  if (name.startsWith("-") || name.endsWith("-")) {
    return "it may not start or end with a hyphen";
  }
  const part = name.split("-").slice(1).find((p) => p.length === 8 || p.length === 12);
  if (part !== undefined) return `the part "${part}" after a hyphen is ${part.length} characters`;
  return undefined;
}

/**
 * A valid project name suggested by a directory's name, if there is one: `My Hooks` →
 * `my-hooks`; `acme-handlers` (a part of 8 characters after a hyphen) → `acmehandlers`.
 */
export function projectNameFrom(directory: string): string | undefined {
  const hyphenated = directory.toLowerCase().replaceAll(/[^a-z0-9]+/g, "-")
    .replaceAll(/^-+|-+$/g, "").slice(0, 26).replace(/-+$/, "");
  for (const name of [hyphenated, hyphenated.replaceAll("-", "")]) {
    if (projectNameProblem(name) === undefined) return name;
  }
  return undefined;
}
