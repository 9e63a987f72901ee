import type { Command } from "commander";
import { ConfigError } from "../../stacks/config.js";
import { InputError, UsageError } from "../errors.js";
import { displayInputs, planStack } from "../plan/run.js";
import type { RegisterCommand } from "./index.js";

export const registerPlan: RegisterCommand = (program: Command, setExitCode) => {
  program
    .command("plan")
    .description(
      "Run a stack's program under Pulumi mocks (no cloud, no credentials) and print its resources",
    )
    .requiredOption("--stack <stack>", "primary, secondary or global")
    .option("--config <file>", "stack config file (default: Pulumi.<stack>.yaml)")
    .option("--json", "print one JSON document")
    .action(async (opts: { stack: string; config?: string; json?: boolean }) => {
      if (!["primary", "secondary", "global"].includes(opts.stack)) {
        throw new UsageError(`unknown stack '${opts.stack}': use --stack primary, secondary or global`);
      }
      let result;
      try {
        result = await planStack({ stack: opts.stack, configFile: opts.config });
      } catch (err) {
        if (err instanceof ConfigError || err instanceof InputError) {
          process.stderr.write(`${err.message}\n`);
          setExitCode(1);
          return;
        }
        throw err;
      }
      const resources = result.resources.map((r) => ({
        type: r.type,
        name: r.name,
        ...(r.parent ? { parent: r.parent } : {}),
        ...(r.provider ? { provider: r.provider } : {}),
        inputs: displayInputs(r),
      }));
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ stack: result.stack, resources, outputs: result.outputs }, null, 2)}\n`,
        );
        return;
      }
      process.stdout.write(
        `Stack ${result.stack}: ${resources.length} resources (${result.config.primaryRegion} → ${result.config.secondaryRegion})\n`,
      );
      const width = Math.max(...resources.map((r) => r.type.length));
      for (const r of resources) {
        process.stdout.write(`  ${r.type.padEnd(width)}  ${r.name}${r.parent ? `  (in ${r.parent})` : ""}\n`);
      }
      process.stdout.write("Outputs:\n");
      for (const [k, v] of Object.entries(result.outputs))
        process.stdout.write(`  ${k}: ${JSON.stringify(v)}\n`);
    });
};
