/**
 * Runs a piece of Pulumi program under mocks (the lead's MockRecorder from cli/plan) and returns
 * every registered resource with its resolved inputs, for component tests.
 */
import * as aws from "@pulumi/aws";
import type { PlannedResource } from "../../../cli/plan/recorder.js";
import { ofType, underMocks, type MockRun } from "../../support/mocks.js";

export const ACCOUNT = "111111111111";

export { underMocks, ofType, type MockRun };

/** The ARNs a regional component is given in `region`: the ops table, its key there, the alarm topic. */
export const arnsIn = (region: string) => ({
  TABLE_ARN: `arn:aws:dynamodb:${region}:${ACCOUNT}:table/ops-table`,
  KEY_ARN: `arn:aws:kms:${region}:${ACCOUNT}:key/replica`,
  TOPIC_ARN: `arn:aws:sns:${region}:${ACCOUNT}:alarms`,
});

/** An IoT-account provider in a region, as stacks/providers.ts builds them. */
export function provider(name: string, region: string): aws.Provider {
  return new aws.Provider(name, { region: region as aws.Region, allowedAccountIds: [ACCOUNT] });
}

export function one(resources: PlannedResource[], type: string, nameSuffix: string): PlannedResource {
  const found = resources.filter((r) => r.type === type && r.name.endsWith(nameSuffix));
  if (found.length !== 1) {
    throw new Error(
      `expected one ${type} named *${nameSuffix}, found ${found.map((r) => r.name).join(", ") || "none"}`,
    );
  }
  return found[0];
}
