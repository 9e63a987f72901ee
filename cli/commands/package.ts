/**
 * `iot-dr package --stack S [--out DIR] [--json]`: builds every callback function of the stack as
 * `pulumi up` would upload it (the plan runs the program; its serializer and bundler build the
 * code), writes each archive as `<function>.zip` to DIR, and loads each one from its archive alone
 * on the Node major its runtime declares. Exit 3 when an archive does not load or is over Lambda's
 * limits, as `plan --policy` exits 3 on a violation.
 */
import type { Command } from "commander";
import {
  packagedFunctions,
  packageFunction,
  packageProblems,
  type FunctionPackage,
} from "../package/build.js";
import { checkStack, planOrExit, stackPlanOptions } from "../plan/command.js";
import { planStack } from "../plan/run.js";
import type { RegisterCommand } from "./register.js";

/** Exit code when a function's archive would fail on Lambda. */
export const PACKAGE_PROBLEM_EXIT = 3;

interface PackageOpts {
  stack: string;
  config?: string;
  out?: string;
  json?: boolean;
}

const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;

export const registerPackage: RegisterCommand = (program: Command, setExitCode) => {
  stackPlanOptions(
    program
      .command("package")
      .description(
        "Build every function archive of a stack as pulumi up would, write the zips and check each loads alone",
      ),
  )
    .option("--out <dir>", "write each archive to <dir>/<function>.zip")
    .option("--json", "print one JSON document")
    .action(async (opts: PackageOpts) => {
      checkStack(opts.stack);
      const plan = await planOrExit(setExitCode, () =>
        planStack({ stack: opts.stack, configFile: opts.config }),
      );
      if (!plan) return;
      const functions: FunctionPackage[] = [];
      for (const fn of packagedFunctions(plan.resources))
        functions.push(await packageFunction(fn, { outDir: opts.out }));
      const problems = functions.flatMap((f) => packageProblems(f).map((p) => `${f.name}: ${p}`));
      if (problems.length > 0) setExitCode(PACKAGE_PROBLEM_EXIT);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ stack: plan.stack, functions, problems }, null, 2)}\n`);
        return;
      }
      process.stdout.write(`Stack ${plan.stack}: ${functions.length} function archives\n`);
      const width = Math.max(0, ...functions.map((f) => f.name.length));
      for (const f of functions) {
        const init = f.coldInitMs === undefined ? "" : `  init ${f.coldInitMs} ms`;
        process.stdout.write(
          `  ${f.name.padEnd(width)}  ${f.runtime}  ${String(f.files).padStart(5)} files  ${kb(f.zippedBytes).padStart(8)} zipped  ${kb(f.unzippedBytes).padStart(9)} unzipped  ${f.loads ? "loads" : "DOES NOT LOAD"}${init}\n`,
        );
      }
      for (const p of problems) process.stderr.write(`${p}\n`);
    });
};
