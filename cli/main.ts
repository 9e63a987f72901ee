/**
 * The operations tool: `iot-dr plan|deploy|drift|backfill|reconcile|replay|redrive|drill|rto|devices|bench`.
 * Each command lives in cli/commands/<name>.ts and registers itself on the program.
 */
import { Command, CommanderError } from "commander";
import { commands } from "./commands/index.js";
import { UsageError } from "./errors.js";

export async function runCli(argv: string[]): Promise<number> {
  const program = new Command("iot-dr")
    .description(
      "Cross-region disaster recovery for AWS IoT Core: plan, deploy, replicate, reconcile, drill.",
    )
    .exitOverride()
    .showHelpAfterError();
  let exitCode = 0;
  const setExitCode = (code: number) => {
    exitCode = code;
  };
  for (const register of commands) register(program, setExitCode);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; every other parse problem is a usage error
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`iot-dr: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  return exitCode;
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`iot-dr: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
