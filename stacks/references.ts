/**
 * Typed stack references. They point one way: `secondary` reads `primary`; `global` reads both.
 * A missing output fails the deployment with a message naming the stack and the output.
 */
import * as pulumi from "@pulumi/pulumi";
import type { DrConfig } from "./config.js";

/** Outputs every regional stack exports (see stacks/regional.ts). */
export interface RegionalOutputs {
  region: string;
  /** SNS topic that receives this region's alarms. */
  alarmTopicArn: string;
  // ── health and fail-over (stacks/regional.ts): read by the global stack ──
  /** Host of the region's health-check function URL ("" in alarm mode). */
  healthCheckHost: string;
  /** `/<secret>` that Route 53 requests (a secret output; "" in alarm mode). */
  healthCheckResourcePath: string;
  /** The CloudWatch alarm Route 53 follows in alarm mode ("" in endpoint mode). */
  healthAlarmName: string;
  /** The SSM parameter operators set to force or forbid fail-over of this region. */
  healthOverrideParameter: string;
  /** The IoT services account's ATS data endpoint in the region. */
  iotDataEndpoint: string;
  /** What the device fail-over record points at (the ATS endpoint serving the device domain). */
  deviceEndpointTarget: string;
  /** Role the notifier assumes to publish fail-over notices. */
  noticePublisherRoleArn: string;
  /** The presence table of the server-side move ("" when iot-dr:serverSideMove is off). */
  presenceTableName: string;
  /** Role the other region's mover assumes to disconnect this region's clients ("" when off). */
  moverRoleArn: string;
  // ── end health and fail-over ──
  // ── command & control (stacks/regional.ts): read by the global stack ──
  /** The API Gateway regional domain name serving the C&C domain in this region (alias target). */
  ccDomainTarget: string;
  /** Its Route 53 hosted zone id (alias target zone). */
  ccDomainZoneId: string;
}

/** Outputs only the primary stack exports. */
export interface PrimaryOutputs extends RegionalOutputs {
  /** The ops table (global table) name, the same in both regions. */
  opsTableName: string;
  opsTableArn: string;
  /** The ops table replica in the secondary region: its ARN, its own stream and its KMS key. */
  opsTableReplicaArn: string;
  opsTableReplicaStreamArn: string;
  opsTableReplicaKeyArn: string;
}

export type SecondaryOutputs = RegionalOutputs;

/** Typed access to one referenced stack's outputs. */
export class TypedStackReference<T> {
  private readonly ref: pulumi.StackReference;

  constructor(
    logicalName: string,
    readonly stackName: string,
    opts?: pulumi.CustomResourceOptions,
  ) {
    this.ref = new pulumi.StackReference(logicalName, { name: stackName }, opts);
  }

  /** The output `key`; fails with the stack and output named when the stack does not export it. */
  require<K extends keyof T & string>(key: K): pulumi.Output<T[K]> {
    const stackName = this.stackName;
    return this.ref.getOutput(key).apply((value: unknown) => {
      if (value === undefined || value === null) {
        throw new Error(
          `stack '${stackName}' has no output '${key}': deploy '${stackName}' first (iot-dr deploy deploys in order), ` +
            `or set iot-dr:primaryStack / iot-dr:secondaryStack to the stack's fully qualified name`,
        );
      }
      return value as T[K];
    });
  }
}

export function primaryReference(config: DrConfig): TypedStackReference<PrimaryOutputs> {
  return new TypedStackReference<PrimaryOutputs>("primary-stack", config.primaryStack);
}

export function secondaryReference(config: DrConfig): TypedStackReference<SecondaryOutputs> {
  return new TypedStackReference<SecondaryOutputs>("secondary-stack", config.secondaryStack);
}
