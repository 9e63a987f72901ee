/**
 * The global stack (shared-services account): fail-over notifications, Route 53 records and
 * health checks, the EventBridge global endpoint. It reads both regional stacks.
 */
import * as pulumi from "@pulumi/pulumi";
import { NotificationTopic } from "../infra/notificationTopic.js";
import { ACCOUNTS, type DrConfig } from "./config.js";
import { createProviders } from "./providers.js";
import { primaryReference, secondaryReference } from "./references.js";

export function globalStack(config: DrConfig): Record<string, pulumi.Input<unknown>> {
  const providers = createProviders(config, ["primary", "secondary"]);
  const primary = primaryReference(config);
  const secondary = secondaryReference(config);

  // Both regional stacks must describe the pair of regions this stack was configured with.
  const check = (stackName: string, expected: string) => (actual: string) => {
    if (actual !== expected) {
      throw new Error(
        `stack '${stackName}' runs in ${actual} but this stack's config expects ${expected}: ` +
          "give all three stacks the same primaryRegion and secondaryRegion",
      );
    }
    return actual;
  };
  const primaryRegion = primary.require("region").apply(check(config.primaryStack, config.primaryRegion));
  const secondaryRegion = secondary
    .require("region")
    .apply(check(config.secondaryStack, config.secondaryRegion));

  const failover = new NotificationTopic(
    "failover",
    {
      purpose: "fail-over notices",
      email: config.notificationEmail,
      publisherAccountIds: ACCOUNTS.map((a) => config.accounts[a].id),
    },
    { provider: providers.get("sharedServices", "primary") },
  );

  return {
    role: config.role,
    primaryRegion,
    secondaryRegion,
    primaryAlarmTopicArn: primary.require("alarmTopicArn"),
    secondaryAlarmTopicArn: secondary.require("alarmTopicArn"),
    failoverTopicArn: failover.arn,
  };
}
