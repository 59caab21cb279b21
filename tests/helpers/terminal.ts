/**
 * Runs the CLI on a pseudo-terminal, the way a person at a terminal does:
 * `script -qfec "<command>" /dev/null` (util-linux) gives it a terminal for stdin, stdout and
 * stderr, forwards what the test types and echoes what the person would see.
 *
 * @module
 */
import { cleanEnv, MAIN_TS } from "./cli.ts";

/** A CLI run on a terminal, driven by the test. */
export interface TerminalRun {
  /** What the person sees so far, without escape codes. */
  screen(): string;
  /** What the terminal was sent so far, escape codes and all. */
  raw(): string;
  /**
   * Waits until {@link screen} matches `pattern` (from `since` characters on), or fails
   * with the screen after `timeoutMs`. Returns the screen's length after the match, to pass
   * as `since` to the next wait.
   */
  waitFor(pattern: RegExp, options?: { since?: number; timeoutMs?: number }): Promise<number>;
  /** Types keys: text, "\r" for Enter, "\x1b[B" for the down arrow, "\x03" for Ctrl-C. */
  type(keys: string): Promise<void>;
  /** Waits for the CLI to exit and returns its exit code and the whole screen. */
  finish(timeoutMs?: number): Promise<{ code: number; screen: string }>;
}

/** The arrow keys and others, as a terminal sends them. */
export const KEYS = { down: "\x1b[B", up: "\x1b[A", enter: "\r", ctrlC: "\x03" } as const;

/** Starts `deno run -A main.ts <args>` on a terminal, with `env` added to a clean one. */
export function runInTerminal(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): TerminalRun {
  const command = [Deno.execPath(), "run", "-A", MAIN_TS, ...args].map(shellQuote).join(" ");
  const env = {
    ...cleanEnv(),
    DEPLOY_TENANT_AUTOSTART: "0",
    NO_COLOR: "1",
    TERM: "xterm",
    ...options.env,
  };
  const child = new Deno.Command("script", {
    args: ["-qfec", command, "/dev/null"],
    env,
    clearEnv: true,
    cwd: options.cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  let raw = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stdout) raw += decoder.decode(chunk, { stream: true });
  })();
  const stderr = new Response(child.stderr).text();
  const screen = () => stripEscapes(raw);

  return {
    screen,
    raw: () => raw,
    async waitFor(pattern, { since = 0, timeoutMs = 30_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const text = screen();
        const match = pattern.exec(text.slice(since));
        if (match) return since + match.index + match[0].length;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`The screen never showed ${pattern}:\n${screen()}`);
    },
    async type(keys) {
      await writer.write(new TextEncoder().encode(keys));
    },
    async finish(timeoutMs = 60_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`Still running after ${timeoutMs} ms:\n${screen()}`));
        }, timeoutMs);
      });
      try {
        const status = await Promise.race([child.status, timeout]);
        await reading;
        await writer.close().catch(() => {});
        await stderr;
        return { code: status.code, screen: screen() };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Text as a person reads it: escape sequences removed, each `\r\n` a newline. */
export function stripEscapes(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replaceAll(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]/g, "")
    .replaceAll("\r\n", "\n");
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
