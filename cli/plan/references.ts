/**
 * Mocked outputs of the stacks a plan references, derived from the planned stack's config.
 * When a stack starts exporting an output that another stack reads, add its mocked value here.
 */
import type { DrConfig } from "../../stacks/config.js";
import type { PrimaryOutputs, SecondaryOutputs } from "../../stacks/references.js";

export function referencedStackOutputs(config: DrConfig): Record<string, Record<string, unknown>> {
  const shared = config.accounts.sharedServices.id;
  const primary: PrimaryOutputs & { role: string } = {
    role: "primary",
    region: config.primaryRegion,
    alarmTopicArn: `arn:aws:sns:${config.primaryRegion}:${shared}:alarms-primary`,
  };
  const secondary: SecondaryOutputs & { role: string } = {
    role: "secondary",
    region: config.secondaryRegion,
    alarmTopicArn: `arn:aws:sns:${config.secondaryRegion}:${shared}:alarms-secondary`,
  };
  return { [config.primaryStack]: { ...primary }, [config.secondaryStack]: { ...secondary } };
}
