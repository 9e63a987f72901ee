/**
 * The regional program, deployed twice: role `primary` in the primary region and role
 * `secondary` in the secondary region. The same capture and replay run in both (symmetric), so
 * fail-back needs no extra machinery. `secondary` owns no resource in the primary region.
 */
import * as pulumi from "@pulumi/pulumi";
import { NotificationTopic } from "../infra/notificationTopic.js";
import { ACCOUNTS, type DrConfig } from "./config.js";
import { createProviders, type RegionSlot } from "./providers.js";
import { primaryReference } from "./references.js";

export function regionalStack(config: DrConfig): Record<string, pulumi.Input<unknown>> {
  if (config.role === "global") throw new Error("regionalStack runs the primary and secondary roles only");
  const slot: RegionSlot = config.role;
  // The primary stack also owns the ops table's replica key in the secondary region; the secondary
  // stack touches only its own region, so it deploys while the primary region is down.
  const providers = createProviders(config, slot === "primary" ? ["primary", "secondary"] : ["secondary"]);
  const region = providers.region(slot);

  // The referenced primary stack must describe the same pair of regions as this one.
  const primaryRegion =
    slot === "secondary"
      ? primaryReference(config)
          .require("region")
          .apply((actual) => {
            if (actual !== config.primaryRegion) {
              throw new Error(
                `stack '${config.primaryStack}' runs in ${actual} but this stack's iot-dr:primaryRegion is ` +
                  `${config.primaryRegion}: give both stacks the same primaryRegion and secondaryRegion`,
              );
            }
            return actual;
          })
      : region;

  const alarms = new NotificationTopic(
    `alarms-${slot}`,
    {
      purpose: `alarms ${region}`,
      email: config.notificationEmail,
      publisherAccountIds: ACCOUNTS.map((a) => config.accounts[a].id),
    },
    { provider: providers.get("sharedServices", slot) },
  );

  const outputs: Record<string, pulumi.Input<unknown>> = {
    role: config.role,
    region,
    primaryRegion,
    alarmTopicArn: alarms.arn,
  };
  return outputs;
}
