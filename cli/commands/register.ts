import { Command } from "commander";

/** Registers one subcommand; `setExitCode` sets the process exit code without throwing. */
export type RegisterCommand = (program: Command, setExitCode: (code: number) => void) => void;

/** The `bench` command group, created by whichever bench module registers first. */
export function benchGroup(program: Command): Command {
  let bench = program.commands.find((c) => c.name() === "bench");
  if (!bench) {
    bench = new Command("bench")
      .copyInheritedSettings(program)
      .description("benchmarks on this machine (results belong in BENCHMARKS.md)");
    program.addCommand(bench);
  }
  return bench;
}
