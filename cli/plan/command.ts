/** What the commands that plan one stack (`plan`, `package`) share: their stack options and input errors. */
import type { Command } from "commander";
import { ConfigError } from "../../stacks/config.js";
import { InputError, UsageError } from "../errors.js";

/** `--stack` (required) and `--config`. */
export const stackPlanOptions = (command: Command): Command =>
  command
    .requiredOption("--stack <stack>", "primary, secondary or global")
    .option("--config <file>", "stack config file (default: Pulumi.<stack>.yaml)");

/** Refuses an unknown `--stack` (exit 2) before anything runs. */
export function checkStack(stack: string): void {
  if (!["primary", "secondary", "global"].includes(stack))
    throw new UsageError(`unknown stack '${stack}': use --stack primary, secondary or global`);
}

/**
 * Runs `plan`; a bad config or input (ConfigError, InputError) is printed, the exit code set to 1
 * and undefined returned, so the command stops having changed nothing.
 */
export async function planOrExit<T>(
  setExitCode: (code: number) => void,
  plan: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await plan();
  } catch (err) {
    if (err instanceof ConfigError || err instanceof InputError) {
      process.stderr.write(`${err.message}\n`);
      setExitCode(1);
      return undefined;
    }
    throw err;
  }
}
