/**
 * What every block of the regional program (stacks/regional.ts) shares: the config, this stack's
 * region slot, its providers and physical names, the referenced primary stack (secondary only)
 * and this region's alarm topic. Built once; the blocks read it and return typed values.
 */
import * as pulumi from "@pulumi/pulumi";
import type { CertificateSource } from "../../infra/certificate.js";
import { NotificationTopic } from "../../infra/notificationTopic.js";
import { ACCOUNTS, type DrConfig } from "../config.js";
import { createProviders, type Providers, type RegionSlot } from "../providers.js";
import { primaryReference, type TypedStackReference } from "../references.js";
import { physicalNames } from "../names.js";
import type { PrimaryOutputs } from "../outputs.js";

export interface RegionalContext {
  config: DrConfig;
  slot: RegionSlot;
  /** This stack's region. */
  region: string;
  /** The other region of the pair. */
  peerRegion: string;
  providers: Providers;
  names: ReturnType<typeof physicalNames>;
  /** The primary stack (secondary only): the ops table replica's name, ARN, stream and key. */
  primaryRef?: TypedStackReference<PrimaryOutputs>;
  /** The primary region, checked against the referenced primary stack in the secondary. */
  primaryRegion: pulumi.Input<string>;
  /** SNS topic (shared-services account) for this region's alarms. */
  alarmTopicArn: pulumi.Output<string>;
}

export function regionalContext(config: DrConfig): RegionalContext {
  if (config.role === "global") throw new Error("regionalStack runs the primary and secondary roles only");
  const slot: RegionSlot = config.role;
  // The primary stack also owns the ops table's replica key in the secondary region; the secondary
  // stack touches only its own region, so it deploys while the primary region is down.
  const providers = createProviders(config, slot === "primary" ? ["primary", "secondary"] : ["secondary"]);
  const region = providers.region(slot);

  // The referenced primary stack must describe the same pair of regions as this one.
  // One reference per stack: a second StackReference with the same name would be a duplicate resource.
  const primaryRef = slot === "secondary" ? primaryReference(config) : undefined;
  const primaryRegion = primaryRef
    ? primaryRef.require("region").apply((actual) => {
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

  return {
    config,
    slot,
    region,
    peerRegion: slot === "primary" ? config.secondaryRegion : config.primaryRegion,
    providers,
    // Every name set here carries the environment (two environments may share the accounts).
    names: physicalNames(config),
    ...(primaryRef ? { primaryRef } : {}),
    primaryRegion,
    alarmTopicArn: alarms.arn,
  };
}

/**
 * Previews and plans run without secrets and certificates (as with placeholder account ids);
 * `up` refuses, naming the key and an example.
 */
export function placeholder(key: string, example: string, value: string): string {
  if (!pulumi.runtime.isDryRun()) {
    throw new Error(`Invalid config iot-dr:${key}: required by the fail-over part. Example: ${example}`);
  }
  return value;
}

/** A custom domain's certificate: configured, or requested and validated in the hosted zone. */
export function certificateFor(
  ctx: RegionalContext,
  key: string,
  arn: string | undefined,
  accountLabel: string,
  accountId: string,
): CertificateSource {
  const { config, region } = ctx;
  if (arn) return { certificateArn: arn };
  if (config.dns.hostedZoneId) {
    return {
      validation: {
        zoneId: config.dns.hostedZoneId,
        provider: ctx.providers.get("sharedServices", ctx.slot),
      },
    };
  }
  return {
    certificateArn: placeholder(
      key,
      `pulumi config set iot-dr:${key} arn:aws:acm:${region}:<${accountLabel} account>:certificate/<id> (or set iot-dr:hostedZoneId)`,
      `arn:aws:acm:${region}:${accountId}:certificate/preview-placeholder`,
    ),
  };
}
