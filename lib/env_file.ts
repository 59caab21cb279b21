/**
 * Environment variables from `.env` files and `KEY=VALUE` arguments.
 *
 * The `.env` dialect is the common one (dotenv, Docker Compose, `deno --env-file`):
 *
 * - `KEY=value`, optionally prefixed by `export `; blank lines and `# comments` are skipped;
 * - unquoted values are trimmed and end at ` #` (an inline comment);
 * - `'single quotes'` keep their content literally;
 * - `"double quotes"` understand `\n`, `\r`, `\t`, `\"`, `\\` and `\$`;
 * - both kinds of quotes may span several lines.
 *
 * Variables are not expanded (`$OTHER` stays as written): a deployment's environment should
 * not depend on the shell that deployed it.
 *
 * @module
 */
import { DeployTenantError, ExitCode } from "./errors.ts";

const KEY = /^[A-Za-z_][A-Za-z0-9_.]*$/;
const ESCAPES: Record<string, string> = {
  n: "\n",
  r: "\r",
  t: "\t",
  '"': '"',
  "\\": "\\",
  "$": "$",
};

/**
 * Parses the text of a `.env` file into a map of variables; a later definition wins.
 *
 * @param text The file's content.
 * @param name The file name used in error messages, e.g. `.env`.
 * @throws {DeployTenantError} `invalidEnvFile` (exit code 2) naming the line that is wrong.
 */
export function parseEnvFile(text: string, name = ".env"): Record<string, string> {
  const vars: Record<string, string> = {};
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const fail = (problem: string): never => {
      throw new DeployTenantError("invalidEnvFile", `${name}:${lineNumber}: ${problem}`, {
        hint: "Each line must be KEY=VALUE, `export KEY=VALUE`, blank, or a # comment.",
        exitCode: ExitCode.usage,
      });
    };
    const line = lines[index].trim();
    if (line === "" || line.startsWith("#")) continue;

    const assignment = line.replace(/^export\s+/, "");
    const equals = assignment.indexOf("=");
    if (equals < 0) fail(`expected KEY=VALUE, got "${truncate(line)}"`);
    const key = assignment.slice(0, equals).trim();
    if (!KEY.test(key)) fail(`invalid variable name "${truncate(key)}"`);

    let rest = assignment.slice(equals + 1).trimStart();
    const quote = rest[0];
    if (quote !== '"' && quote !== "'") {
      vars[key] = rest.replace(/(^|\s)#.*$/, "").trim();
      continue;
    }

    // A quoted value may continue on the following lines until its closing quote.
    rest = rest.slice(1);
    let value = "";
    for (;;) {
      const end = closingQuote(rest, quote);
      if (end >= 0) {
        value += rest.slice(0, end);
        const after = rest.slice(end + 1).trim();
        if (after !== "" && !after.startsWith("#")) {
          fail(`unexpected text after the closing quote: "${truncate(after)}"`);
        }
        break;
      }
      value += rest + "\n";
      index++;
      if (index >= lines.length) fail(`the ${quote} quote opened here is never closed`);
      rest = lines[index];
    }
    vars[key] = quote === '"' ? unescape(value) : value;
  }
  return vars;
}

/**
 * Parses one `KEY=VALUE` argument (as given to `--env`). The value may be empty or contain `=`.
 *
 * @throws {DeployTenantError} `invalidEnvVar` (exit code 2) naming the argument.
 */
export function parseEnvAssignment(argument: string): [key: string, value: string] {
  const equals = argument.indexOf("=");
  const key = equals < 0 ? "" : argument.slice(0, equals);
  if (equals < 0 || !KEY.test(key)) {
    throw new DeployTenantError(
      "invalidEnvVar",
      `Invalid environment variable "${truncate(argument)}": expected KEY=VALUE`,
      {
        hint: "Write it as NAME=value, where NAME is letters, digits and underscores.",
        exitCode: ExitCode.usage,
      },
    );
  }
  return [key, argument.slice(equals + 1)];
}

/** Index of the first unescaped `quote` in `text`, or -1. */
function closingQuote(text: string, quote: string): number {
  for (let i = 0; i < text.length; i++) {
    if (quote === '"' && text[i] === "\\") i++;
    else if (text[i] === quote) return i;
  }
  return -1;
}

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (whole, char: string) => ESCAPES[char] ?? whole);
}

function truncate(text: string, max = 40): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The env file path that means stdin. */
export const STDIN_PATH = "-";

/** How messages name the env file at `path`: `stdin` for {@link STDIN_PATH}, else the path. */
export function envFileName(path: string): string {
  return path === STDIN_PATH ? "stdin" : path;
}

/**
 * Reads a `.env` file's text for `--env-file` or `env load` ({@link STDIN_PATH} reads stdin): a missing file, a directory or
 * a file that cannot be read is a {@link DeployTenantError} naming the path (no stack trace),
 * with `hint` on what to pass instead.
 *
 * @throws {DeployTenantError} `envFileNotFound` or `envFileNotAFile` (exit code 2), or
 *   `envFileUnreadable` (exit code 1).
 */
export async function readEnvFileText(path: string, hint: string): Promise<string> {
  // `-` is stdin, as for `kubectl apply -f -`: a CI job pipes its secrets in, no file on disk.
  if (path === STDIN_PATH) return await new Response(Deno.stdin.readable).text();
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new DeployTenantError("envFileNotFound", `Env file ${path} does not exist`, {
        hint,
        exitCode: ExitCode.usage,
        cause: error,
      });
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new DeployTenantError("envFileNotAFile", `Env file ${path} is a directory`, {
        hint,
        exitCode: ExitCode.usage,
        cause: error,
      });
    }
    const why = error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new DeployTenantError("envFileUnreadable", `Cannot read env file ${path}: ${why}`, {
      hint: "Check the file's permissions, or pass another file.",
      exitCode: ExitCode.failed,
      cause: error,
    });
  }
}
