/**
 * The operations tool: `iot-dr plan|deploy|drift|backfill|reconcile|replay|redrive|drill|rto|devices|bench`.
 * Each command lives in cli/commands/<name>.ts and registers itself on the program.
 */
import { Command, CommanderError } from "commander";
import { commands } from "./commands/index.js";
import { UsageError } from "./errors.js";
import { resolveBudget, startWatch, stopWatch, type DeadlineExceeded } from "./aws.js";

export async function runCli(argv: string[]): Promise<number> {
  const program = new Command("iot-dr")
    .description(
      "Cross-region disaster recovery for AWS IoT Core: plan, deploy, replicate, reconcile, drill.",
    )
    .exitOverride()
    .showHelpAfterError()
    .option(
      "--idle-budget <seconds>",
      "longest wait without an AWS answer before a command gives up and exits 1 (default 60; env IOT_DR_IDLE_BUDGET)",
    )
    .option("--budget <seconds>", "wall-clock budget of the whole command (default none; env IOT_DR_BUDGET)")
    .option(
      "--call-timeout <seconds>",
      "time for one attempt of one AWS call (default per API, 5-8 s; env IOT_DR_CALL_TIMEOUT)",
    );
  let exitCode = 0;
  const setExitCode = (code: number) => {
    exitCode = code;
  };
  for (const register of commands) register(program, setExitCode);
  // The budget starts once the command line parsed; expiry ends the run (see cli/aws.ts).
  let expired: DeadlineExceeded | undefined;
  let onExpired: () => void = () => {};
  const expiry = new Promise<void>((resolve) => (onExpired = resolve));
  program.hook("preAction", () => {
    const watch = startWatch(resolveBudget(program.opts(), process.env));
    watch.onExpire((err) => {
      expired = err;
      onExpired();
    });
  });
  const parsed = program.parseAsync(argv, { from: "user" });
  try {
    await Promise.race([parsed, expiry]);
    if (expired) {
      // Let the command unwind (its calls now fail at once), but never wait on it for long.
      await Promise.race([parsed.catch(() => {}), new Promise((r) => setTimeout(r, 5_000).unref())]);
      process.stderr.write(`iot-dr: ${expired.message}\n`);
      return 1;
    }
  } catch (err) {
    if (expired) {
      process.stderr.write(`iot-dr: ${expired.message}\n`);
      return 1;
    }
    if (err instanceof CommanderError) {
      // help and version exit 0; every other parse problem is a usage error
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`iot-dr: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    stopWatch();
  }
  return exitCode;
}

/** What the process runs: `runCli`, with any other error printed as `iot-dr: message` and exit 1. */
export async function main(argv: string[]): Promise<number> {
  try {
    return await runCli(argv);
  } catch (err) {
    process.stderr.write(`iot-dr: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
