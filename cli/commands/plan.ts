import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { checkStack, planOrExit, stackPlanOptions } from "../plan/command.js";
import {
  blocks,
  formatViolations,
  loadPolicyConfig,
  planViolations,
  POLICY_VIOLATION_EXIT,
} from "../plan/policy.js";
import { archiveFacts } from "../package/build.js";
import { displayInputs, planStack } from "../plan/run.js";
import type { RegisterCommand } from "./register.js";

interface PlanOpts {
  stack: string;
  config?: string;
  json?: boolean;
  policy?: boolean;
  policyConfig?: string;
}

export const registerPlan: RegisterCommand = (program: Command, setExitCode) => {
  stackPlanOptions(
    program
      .command("plan")
      .description(
        "Run a stack's program under Pulumi mocks (no cloud, no credentials) and print its resources",
      ),
  )
    .option("--json", "print one JSON document")
    .option("--policy", "also run the policy pack (policy/) over the plan; exit 3 on a mandatory violation")
    .option("--policy-config <file>", "policy pack config as for pulumi --policy-pack-config (with --policy)")
    .action(async (opts: PlanOpts) => {
      checkStack(opts.stack);
      if (opts.policyConfig !== undefined && !opts.policy)
        throw new UsageError("--policy-config needs --policy");
      const planned = await planOrExit(setExitCode, async () => {
        const policyConfig = opts.policy ? loadPolicyConfig(opts.policyConfig) : undefined;
        return { policyConfig, result: await planStack({ stack: opts.stack, configFile: opts.config }) };
      });
      if (!planned) return;
      const { policyConfig, result } = planned;
      for (const notice of result.notices) process.stderr.write(`${notice}\n`);
      const resources = result.resources.map((r) => ({
        type: r.type,
        name: r.name,
        ...(r.parent ? { parent: r.parent } : {}),
        ...(r.provider ? { provider: r.provider } : {}),
        inputs: displayInputs(r),
      }));
      // --policy: the pack's violations, merged into the JSON document or printed after the inventory.
      // --policy also builds and loads every function archive (function-archive-deployable).
      const violations = policyConfig
        ? planViolations(result.resources, policyConfig, await archiveFacts(result.resources))
        : undefined;
      if (violations && blocks(violations)) setExitCode(POLICY_VIOLATION_EXIT);
      if (opts.json) {
        const doc = {
          stack: result.stack,
          resources,
          outputs: result.outputs,
          ...(violations ? { violations } : {}),
        };
        process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
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
      if (violations) process.stdout.write(formatViolations(violations));
    });
};
