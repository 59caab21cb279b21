/**
 * Prompts for a person at a terminal, through `@inquirer/prompts`, so every question looks
 * the same. Nothing here may run unless {@link canPrompt} says yes: under Deno the library
 * waits forever for keys when stdin is not a terminal.
 *
 * The prompt is drawn on stderr, so stdout stays the command's result. Ctrl-C at a prompt
 * ends the command with exit code 130, nothing changed.
 *
 * @module
 */
import { DeployTenantError, ExitCode } from "../lib/errors.ts";

/** One choice of {@link select}. */
export interface Choice<T> {
  /** What the person sees. */
  name: string;
  /** What the prompt answers when it is picked. */
  value: T;
  /** A dim note beside the choice. */
  description?: string;
}

/**
 * Whether a person can be asked: stdin and stderr are terminals and `-y/--non-interactive`
 * was not given.
 */
export function canPrompt(nonInteractive: boolean): boolean {
  return !nonInteractive && Deno.stdin.isTerminal() && Deno.stderr.isTerminal();
}

/** Asks a yes/no question (default no). Only call it when {@link canPrompt}. */
export async function confirm(question: string, defaultAnswer = false): Promise<boolean> {
  const prompts = await import("@inquirer/prompts");
  const context = await promptContext();
  return await answered(prompts.confirm({ message: question, default: defaultAnswer }, context));
}

/** Lets the person pick one of `choices`. Only call it when {@link canPrompt}. */
export async function select<T>(question: string, choices: Choice<T>[]): Promise<T> {
  const prompts = await import("@inquirer/prompts");
  const context = await promptContext();
  return await answered(
    prompts.select<T>({ message: question, choices, pageSize: 12, loop: false }, context),
  );
}

/**
 * Asks for a line of text, offering `defaultAnswer`; `validate` returns `true` or what is
 * wrong. Only call it when {@link canPrompt}.
 */
export async function input(
  question: string,
  options: { defaultAnswer?: string; validate?: (value: string) => true | string } = {},
): Promise<string> {
  const prompts = await import("@inquirer/prompts");
  const context = await promptContext();
  return await answered(
    prompts.input({
      message: question,
      default: options.defaultAnswer,
      validate: options.validate,
    }, context),
  );
}

/** Where prompts read and draw; `node:process` is loaded only when someone is asked. */
async function promptContext() {
  const { default: process } = await import("node:process");
  return { input: process.stdin, output: process.stderr, clearPromptOnDone: false };
}

/** The prompt's answer; Ctrl-C (or a closed terminal) becomes exit 130, nothing changed. */
async function answered<T>(prompt: Promise<T>): Promise<T> {
  try {
    return await prompt;
  } catch (error) {
    if (error instanceof Error && error.name === "ExitPromptError") {
      throw new DeployTenantError("cancelled", "Cancelled: nothing was changed", {
        exitCode: ExitCode.interrupted,
      });
    }
    throw error;
  }
}
